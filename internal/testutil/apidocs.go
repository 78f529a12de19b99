package testutil

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/apidocs"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ServesDocuments checks that the server at baseURL serves the OpenAPI
// document and the HTML reference of service's proto package (apidocs.For)
// at apidocs.OpenAPIPath and apidocs.DocsPath, byte for byte.
func ServesDocuments(t testing.TB, baseURL, service string) {
	t.Helper()
	docs, err := apidocs.For(service)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{apidocs.OpenAPIPath: docs.OpenAPI, apidocs.DocsPath: docs.HTML} {
		res, err := http.Get(baseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || string(got) != string(want) {
			t.Errorf("%s: %s, %d bytes, want %s's %d", path, res.Status, len(got), service, len(want))
		}
	}
}

// DescribeShowsComment checks that method's proto comment, as the embedded
// descriptors hold it, begins with commentPrefix, and that grpcurl describe
// against the server at addr (host:port, plaintext) prints every line of it:
// reflection serves the descriptors with their comments.
func DescribeShowsComment(t testing.TB, addr, method, commentPrefix string) {
	t.Helper()
	r, err := apidocs.Resolver()
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.FindDescriptorByName(protoreflect.FullName(method))
	if err != nil {
		t.Fatal(err)
	}
	comment := d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments
	if !strings.HasPrefix(comment, commentPrefix) {
		t.Fatalf("the descriptors' comment of %s is %q", method, comment)
	}
	out := string(Grpcurl(t, "-plaintext", addr, "describe", method))
	for line := range strings.Lines(strings.TrimRight(comment, "\n")) {
		if want := "//" + strings.TrimRight(line, "\n"); !strings.Contains(out, want+"\n") {
			t.Errorf("grpcurl describe %s lacks %q:\n%s", method, want, out)
		}
	}
}
