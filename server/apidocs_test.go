package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/apidocs"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestDirectoryServesItsDocuments checks that the directory serves the
// documents of its own proto package (internal/apidocs tests what they
// say).
func TestDirectoryServesItsDocuments(t *testing.T) {
	t.Parallel()
	e := start(t)
	docs, err := apidocs.For(directoryv1connect.DirectoryServiceName)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{apidocs.OpenAPIPath: docs.OpenAPI, apidocs.DocsPath: docs.HTML} {
		res, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || string(got) != string(want) {
			t.Errorf("%s: %s, %d bytes, want the directory's %d", path, res.Status, len(got), len(want))
		}
	}
}

// TestReflectionShowsComments runs grpcurl describe against the
// directory: it prints a method's proto comment.
func TestReflectionShowsComments(t *testing.T) {
	t.Parallel()
	e := start(t)
	const method = directoryv1connect.DirectoryServiceName + ".Search"
	r, err := apidocs.Resolver()
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.FindDescriptorByName(method)
	if err != nil {
		t.Fatal(err)
	}
	comment := d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments
	if !strings.HasPrefix(comment, " Search finds files") {
		t.Fatalf("the descriptors' comment of %s is %q", method, comment)
	}
	out := string(testutil.Grpcurl(t, "-plaintext", e.addr, "describe", method))
	for line := range strings.Lines(strings.TrimRight(comment, "\n")) {
		if want := "//" + strings.TrimRight(line, "\n"); !strings.Contains(out, want+"\n") {
			t.Errorf("grpcurl describe %s lacks %q:\n%s", method, want, out)
		}
	}
}
