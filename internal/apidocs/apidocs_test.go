package apidocs_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/apidocs"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
)

// services are every service of proto/; each has its own documents.
var services = []string{directoryv1connect.DirectoryServiceName, peerv1connect.PeerServiceName}

// serve runs an rpcserver serving service's documents on a free loopback
// port until the test ends, and returns its base URL.
func serve(t *testing.T, service string) string {
	t.Helper()
	srv := rpcserver.New(rpcserver.Options{Services: []string{service}, Docs: service, ShutdownGrace: time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// curl fetches url with the real curl and returns the body.
func curl(t *testing.T, url string) []byte {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		testutil.Missing(t, "curl is not installed: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), path, "-sS", "--fail", "--max-time", "30", url).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	return out
}

// compiled is a service as compiled into the binary: its methods and their
// google.api.http annotations (but no comments).
func compiled(t *testing.T, service string) protoreflect.ServiceDescriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		t.Fatal(err)
	}
	return d.(protoreflect.ServiceDescriptor)
}

// commented is a service as make generate described it, with the proto
// comments.
func commented(t *testing.T, service string) protoreflect.ServiceDescriptor {
	t.Helper()
	r, err := apidocs.Resolver()
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		t.Fatal(err)
	}
	return d.(protoreflect.ServiceDescriptor)
}

// comment is d's leading proto comment with its whitespace collapsed.
func comment(d protoreflect.Descriptor) string {
	return strings.Join(strings.Fields(d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments), " ")
}

// route is one REST route that a google.api.http annotation declares.
type route struct {
	method, path string
	rule         *annotations.HttpRule
	rpc          protoreflect.MethodDescriptor
}

// routes are the REST routes of service's annotations, additional bindings
// included.
func routes(t *testing.T, service string) []route {
	t.Helper()
	var out []route
	methods := compiled(t, service).Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue
		}
		for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			method, path := pattern(t, r)
			out = append(out, route{method: method, path: path, rule: r, rpc: md})
		}
	}
	return out
}

// templateVar matches a path template's variable, e.g. {name=files/*}.
var templateVar = regexp.MustCompile(`\{([^}=]+)(=[^}]*)?\}`)

// pattern is an HttpRule's method and its path as OpenAPI writes it
// ({name=files/*} becomes {name}).
func pattern(t *testing.T, r *annotations.HttpRule) (string, string) {
	t.Helper()
	var method, path string
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		method, path = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		method, path = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		method, path = http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		method, path = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		method, path = http.MethodDelete, p.Delete
	default:
		t.Fatalf("HttpRule pattern %T: extend this test", p)
	}
	return method, templateVar.ReplaceAllString(path, "{$1}")
}

// TestOpenAPI fetches /openapi.json with curl from a server of each
// service, checks it with kin-openapi's validator, and checks that it
// lists exactly the REST routes of the service's google.api.http
// annotations, each with its path, query and body parameters and its
// response fields.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	for _, service := range services {
		t.Run(service, func(t *testing.T) {
			t.Parallel()
			body := curl(t, serve(t, service)+apidocs.OpenAPIPath)
			doc, err := openapi3.NewLoader().LoadFromData(body)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if err := doc.Validate(t.Context()); err != nil {
				t.Fatalf("invalid OpenAPI: %v", err)
			}
			if !strings.HasPrefix(doc.OpenAPI, "3.") {
				t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
			}
			pkg := string(compiled(t, service).ParentFile().Package())
			if doc.Info.Title != pkg {
				t.Errorf("title = %q, want the proto package %q", doc.Info.Title, pkg)
			}
			want := routes(t, service)
			operations := 0
			for _, item := range doc.Paths.Map() {
				operations += len(item.Operations())
			}
			if operations != len(want) {
				t.Errorf("%d operations, want %d, one per google.api.http binding", operations, len(want))
			}
			for _, r := range want {
				t.Run(r.method+" "+r.path, func(t *testing.T) { checkRoute(t, doc, r) })
			}
		})
	}
}

// checkRoute checks the operation of r in doc.
func checkRoute(t *testing.T, doc *openapi3.T, r route) {
	item := doc.Paths.Find(r.path)
	if item == nil {
		t.Fatalf("no path %s", r.path)
	}
	op := item.GetOperation(r.method)
	if op == nil {
		t.Fatalf("no %s operation", r.method)
	}
	if id := string(r.rpc.Parent().Name() + "_" + r.rpc.Name()); !strings.HasPrefix(op.OperationID, id) {
		t.Errorf("operationId %q, want %s", op.OperationID, id)
	}
	params := map[string]string{} // name: in
	for _, p := range op.Parameters {
		params[p.Value.Name] = p.Value.In
	}
	// Every variable of the path is a path parameter; the request's
	// other fields are query parameters, or the body.
	inPath := map[string]bool{}
	for _, m := range templateVar.FindAllStringSubmatch(r.path, -1) {
		inPath[m[1]] = true
		if params[m[1]] != openapi3.ParameterInPath {
			t.Errorf("path variable %s is not a path parameter: %v", m[1], params)
		}
	}
	fields := r.rpc.Input().Fields()
	switch r.rule.GetBody() {
	case "":
		if op.RequestBody != nil {
			t.Error("a request body, but the annotation has none")
		}
		for i := range fields.Len() {
			f := fields.Get(i)
			if inPath[f.JSONName()] || inPath[string(f.Name())] {
				continue
			}
			if !hasQuery(params, f) {
				t.Errorf("field %s is not a query parameter: %v", f.Name(), params)
			}
		}
	case "*":
		if op.RequestBody == nil {
			t.Fatal("no request body, but the annotation's body is *")
		}
		media := op.RequestBody.Value.Content.Get("application/json")
		if media == nil {
			t.Fatal("request body is not application/json")
		}
		checkProperties(t, "request body", media.Schema.Value, fields, inPath)
		for name, in := range params {
			if in == openapi3.ParameterInQuery {
				t.Errorf("query parameter %s, but the body takes every field", name)
			}
		}
	default:
		t.Fatalf("body %q: extend this test", r.rule.GetBody())
	}
	if r.rule.GetResponseBody() != "" {
		t.Fatalf("response_body %q: extend this test", r.rule.GetResponseBody())
	}
	ok := op.Responses.Status(http.StatusOK)
	if ok == nil || ok.Value.Content.Get("application/json") == nil {
		t.Fatal("no 200 application/json response")
	}
	checkProperties(t, "response", ok.Value.Content.Get("application/json").Schema.Value, r.rpc.Output().Fields(), nil)
}

// hasQuery reports whether field f is a query parameter: by its JSON name,
// or, for a message, by its fields' dotted names.
func hasQuery(params map[string]string, f protoreflect.FieldDescriptor) bool {
	if params[f.JSONName()] == openapi3.ParameterInQuery {
		return true
	}
	for name, in := range params {
		if in == openapi3.ParameterInQuery && strings.HasPrefix(name, f.JSONName()+".") {
			return true
		}
	}
	return false
}

// checkProperties checks that schema has a property for each of fields, by
// JSON name, except those in skip.
func checkProperties(t *testing.T, what string, schema *openapi3.Schema, fields protoreflect.FieldDescriptors, skip map[string]bool) {
	t.Helper()
	if schema == nil {
		t.Fatalf("%s has no schema", what)
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		if skip[f.JSONName()] {
			continue
		}
		if _, ok := schema.Properties[f.JSONName()]; !ok {
			t.Errorf("%s lacks field %s: has %v", what, f.JSONName(), slices.Sorted(maps.Keys(schema.Properties)))
		}
	}
}

// tag matches an HTML tag.
var tag = regexp.MustCompile(`<[^>]*>`)

// TestDocs fetches /docs from a server of each service and checks that it
// lists every method of the service with its proto comment, under a
// policy that lets the page load nothing from elsewhere.
func TestDocs(t *testing.T) {
	t.Parallel()
	for _, service := range services {
		t.Run(service, func(t *testing.T) {
			t.Parallel()
			res, err := http.Get(serve(t, service) + apidocs.DocsPath)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			page := string(raw)
			text := strings.Join(strings.Fields(html.UnescapeString(tag.ReplaceAllString(page, " "))), " ")
			sd := commented(t, service)
			if c := comment(sd); c == "" || !strings.Contains(text, c) {
				t.Errorf("the service's comment %q is missing", c)
			}
			methods := sd.Methods()
			if methods.Len() != compiled(t, service).Methods().Len() {
				t.Fatalf("descriptors with comments have %d methods, the binary %d: run make generate", methods.Len(), compiled(t, service).Methods().Len())
			}
			for i := range methods.Len() {
				md := methods.Get(i)
				if !strings.Contains(page, fmt.Sprintf("<td>%s</td>", md.Name())) {
					t.Errorf("method %s is not listed", md.Name())
				}
				c := comment(md)
				if !strings.HasPrefix(c, string(md.Name())+" ") {
					t.Errorf("method %s: comment %q does not start with its name", md.Name(), c)
				}
				if !strings.Contains(text, c) {
					t.Errorf("method %s: comment %q is missing", md.Name(), c)
				}
			}
		})
	}
}
