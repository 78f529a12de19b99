package server_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server"
)

const (
	allowedOrigin = "https://app.example.com"
	otherOrigin   = "https://elsewhere.example.com"
)

// browserRoute is one route a browser may call, with the request headers
// its client library sends.
type browserRoute struct {
	name, method, path string
	headers            []string
}

// browserRoutes are every route of DirectoryService as a browser calls it:
// Connect (POST, and GET for methods without side effects), gRPC-Web, and
// the REST route of each google.api.http annotation.
func browserRoutes(t *testing.T) []browserRoute {
	t.Helper()
	sd := directoryv1.File_peerhub_directory_v1_directory_proto.Services().Get(0)
	var out []browserRoute
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		path := "/" + string(sd.FullName()) + "/" + string(md.Name())
		out = append(out,
			browserRoute{"connect " + string(md.Name()), http.MethodPost, path, []string{"Authorization", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Content-Type"}},
			browserRoute{"grpc-web " + string(md.Name()), http.MethodPost, path, []string{"Authorization", "Content-Type", "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent"}},
		)
		if md.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
			out = append(out, browserRoute{"connect GET " + string(md.Name()), http.MethodGet, path, []string{"Authorization", "Connect-Protocol-Version"}})
		}
		rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			if r == nil {
				continue
			}
			method, path := restPattern(t, md, r)
			out = append(out, browserRoute{"REST " + string(md.Name()), method, path, []string{"Authorization", "Content-Type"}})
		}
	}
	return out
}

// restPattern is an annotation's HTTP method and path.
func restPattern(t *testing.T, md protoreflect.MethodDescriptor, r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	default:
		t.Fatalf("%s: HttpRule %T: extend this test", md.FullName(), p)
		return "", ""
	}
}

// TestCORS sends the preflights a browser sends before each call: a page
// of an allowed origin may call every Connect, gRPC-Web and REST route
// with the headers those protocols need; a page of another origin, or any
// page when no origin is configured, gets no Access-Control header.
func TestCORS(t *testing.T) {
	t.Parallel()
	allowing := start(t, func(c *server.Config) { c.CORS.Origins = []string{allowedOrigin, "http://localhost:5173"} })
	closed := start(t)
	for _, r := range browserRoutes(t) {
		t.Run(r.name, func(t *testing.T) {
			status, h := testutil.Preflight(t, allowing.url+r.path, allowedOrigin, r.method, r.headers...)
			if status != http.StatusNoContent && status != http.StatusOK {
				t.Errorf("allowed origin: status %d", status)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
				t.Errorf("allowed origin: Access-Control-Allow-Origin %q", got)
			}
			if got := h.Get("Access-Control-Allow-Methods"); got != r.method {
				t.Errorf("allowed origin: Access-Control-Allow-Methods %q, want %s", got, r.method)
			}
			allowed := strings.Split(strings.ToLower(h.Get("Access-Control-Allow-Headers")), ",")
			for _, want := range r.headers {
				if !slices.Contains(allowed, strings.ToLower(want)) {
					t.Errorf("allowed origin: Access-Control-Allow-Headers %q lacks %s", allowed, want)
				}
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed: tokens travel in a header, never a cookie")
			}
			if _, h := testutil.Preflight(t, allowing.url+r.path, otherOrigin, r.method, r.headers...); len(h) != 0 {
				t.Errorf("other origin got %v", h)
			}
			if _, h := testutil.Preflight(t, closed.url+r.path, allowedOrigin, r.method, r.headers...); len(h) != 0 {
				t.Errorf("no --cors-origin, yet got %v", h)
			}
		})
	}
}

// TestCORSCalls makes the calls themselves from an allowed origin: the
// answers let the page read them, and the gRPC-Web status headers.
func TestCORSCalls(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *server.Config) { c.CORS.Origins = []string{allowedOrigin} })
	calls := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
	}{
		{"REST", http.MethodGet, "/v1/info", "", nil},
		{"connect", http.MethodPost, "/peerhub.directory.v1.DirectoryService/GetInfo", "application/json", []byte("{}")},
		// An empty protobuf message in one gRPC-Web frame: flags, length.
		{"grpc-web", http.MethodPost, "/peerhub.directory.v1.DirectoryService/GetInfo", "application/grpc-web+proto", []byte{0, 0, 0, 0, 0}},
	}
	for _, c := range calls {
		req, err := http.NewRequestWithContext(t.Context(), c.method, e.url+c.path, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", allowedOrigin)
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.name == "grpc-web" {
			req.Header.Set("X-Grpc-Web", "1")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", c.name, res.Status)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
			t.Errorf("%s: Access-Control-Allow-Origin %q", c.name, got)
		}
		exposed := res.Header.Get("Access-Control-Expose-Headers")
		for _, h := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"} {
			if !strings.Contains(exposed, h) {
				t.Errorf("%s: Access-Control-Expose-Headers %q lacks %s", c.name, exposed, h)
			}
		}
	}
}

// TestCORSConfig rejects an origin that is not one.
func TestCORSConfig(t *testing.T) {
	t.Parallel()
	cfg := server.Config{Store: server.StoreMemory, InsecurePlaintext: true}
	cfg.CORS.Origins = []string{"https://app.example.com/"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "https://app.example.com/") {
		t.Errorf("Validate = %v, want an error naming the origin", err)
	}
}
