package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves one request to mux and returns the response and its body.
func get(t *testing.T, mux http.Handler, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func mounted(t *testing.T, d Dashboard) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	if err := Mount(mux, d); err != nil {
		t.Fatal(err)
	}
	return mux
}

func checkSecurityHeaders(t *testing.T, path string, h http.Header) {
	t.Helper()
	if got := h.Get("Content-Security-Policy"); got != Policy {
		t.Errorf("%s: Content-Security-Policy %q, want %q", path, got, Policy)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", path, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q", path, got)
	}
}

// TestPolicyIsStrict guards the policy itself: scripts and fetches only
// from the page's origin, nothing inline, no framing.
func TestPolicyIsStrict(t *testing.T) {
	directives := map[string]string{}
	for d := range strings.SplitSeq(Policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self'",
		"frame-ancestors": "'none'",
		"form-action":     "'none'",
		"base-uri":        "'none'",
	} {
		if directives[name] != want {
			t.Errorf("%s is %q, want %q", name, directives[name], want)
		}
	}
	if strings.Contains(Policy, "unsafe") {
		t.Errorf("the policy allows something unsafe: %s", Policy)
	}
}

func TestPages(t *testing.T) {
	for _, tc := range []struct {
		d      Dashboard
		script string
		want   []string
	}{
		{Dashboard{Role: RoleDirectory}, "/ui/directory.js", []string{`id="search-input"`, `id="peers-table"`}},
		{Dashboard{Role: RolePeer, PeerName: "p1", PeerAccount: "ann"}, "/ui/peer.js", []string{`<meta name="peerhub-peer" content="p1">`, `<meta name="peerhub-account" content="ann">`, `id="files-table"`, `id="transfers-table"`, `id="uploads-table"`}},
	} {
		mux := mounted(t, tc.d)
		res, body := get(t, mux, "/", nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("%s page: %s, %s", tc.d.Role, res.Status, res.Header.Get("Content-Type"))
		}
		checkSecurityHeaders(t, "/", res.Header)
		for _, w := range append(tc.want, `<script type="module" src="`+tc.script+`"></script>`) {
			if !strings.Contains(body, w) {
				t.Errorf("%s page lacks %s", tc.d.Role, w)
			}
		}
		// Revalidation by ETag.
		etag := res.Header.Get("ETag")
		if res, _ := get(t, mux, "/", http.Header{"If-None-Match": {etag}}); etag == "" || res.StatusCode != http.StatusNotModified {
			t.Errorf("%s page with If-None-Match %s: %s", tc.d.Role, etag, res.Status)
		}
		// Only / itself is the page.
		if res, _ := get(t, mux, "/elsewhere", nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("/elsewhere: %s", res.Status)
		}
	}
}

// TestPeerNameIsEscaped: the name goes into an attribute as text.
func TestPeerNameIsEscaped(t *testing.T) {
	_, body := get(t, mounted(t, Dashboard{Role: RolePeer, PeerName: `x"><script>alert(1)</script>`}), "/", nil)
	if strings.Contains(body, "<script>alert") {
		t.Fatalf("the peer name reached the page unescaped:\n%s", body)
	}
}

func TestAssets(t *testing.T) {
	mux := mounted(t, Dashboard{Role: RoleDirectory})
	for path, ctype := range map[string]string{
		"/ui/api.js":    "text/javascript; charset=utf-8",
		"/ui/style.css": "text/css; charset=utf-8",
		"/ui/icon.svg":  "image/svg+xml",
	} {
		res, body := get(t, mux, path, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ctype || body == "" {
			t.Errorf("%s: %s, %q, %d bytes; want 200 %q", path, res.Status, res.Header.Get("Content-Type"), len(body), ctype)
		}
		checkSecurityHeaders(t, path, res.Header)
	}
	// The templates are served only rendered, at /.
	for _, path := range []string{"/ui/peer.html", "/ui/directory.html", "/ui/nothing.js", "/ui/"} {
		res, _ := get(t, mux, path, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, res.Status)
		}
	}
}

var (
	pageRef   = regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`)
	moduleRef = regexp.MustCompile(`(?m)^import .* from "\./([^"]+)";$`)
)

// TestReferencesResolve follows every asset a page names and every module
// a script imports: each must be served.
func TestReferencesResolve(t *testing.T) {
	for role := range pageOf {
		mux := mounted(t, Dashboard{Role: role, PeerName: "p1"})
		_, page := get(t, mux, "/", nil)
		queue := []string{}
		for _, m := range pageRef.FindAllStringSubmatch(page, -1) {
			queue = append(queue, m[1])
		}
		seen := map[string]bool{}
		for len(queue) > 0 {
			path := queue[0]
			queue = queue[1:]
			if seen[path] {
				continue
			}
			seen[path] = true
			res, body := get(t, mux, path, nil)
			if res.StatusCode != http.StatusOK {
				t.Errorf("%s page: %s is %s", role, path, res.Status)
				continue
			}
			for _, m := range moduleRef.FindAllStringSubmatch(body, -1) {
				queue = append(queue, AssetPrefix+m[1])
			}
		}
		if len(seen) < 4 {
			t.Errorf("%s page: only %d assets found: %v", role, len(seen), seen)
		}
	}
}

// TestNothingInline: the policy blocks inline scripts, event-handler
// attributes and style attributes, so the pages must have none.
func TestNothingInline(t *testing.T) {
	inline := regexp.MustCompile(`<script(?:[^>]*)>\s*[^<\s]|\son[a-z]+=|\sstyle=|<style`)
	for role := range pageOf {
		_, page := get(t, mounted(t, Dashboard{Role: role, PeerName: "p1"}), "/", nil)
		if m := inline.FindString(page); m != "" {
			t.Errorf("%s page has inline code or style: %q", role, m)
		}
	}
}

func TestNoDashboard(t *testing.T) {
	res, _ := get(t, mounted(t, Dashboard{}), "/", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("/ without a dashboard: %s", res.Status)
	}
	if err := Mount(http.NewServeMux(), Dashboard{Role: "printer"}); err == nil {
		t.Fatal("a role without a page was mounted")
	}
}

// TestPeerPageDirectory: a peer's page names its directory, and its policy
// lets it fetch from the directory's origin and nowhere else; without a
// usable directory URL the policy stays the strict one.
func TestPeerPageDirectory(t *testing.T) {
	d := Dashboard{Role: RolePeer, PeerName: "p1", Directory: "http://127.0.0.1:8000/"}
	_, body := get(t, mounted(t, d), "/", nil)
	if !strings.Contains(body, `<meta name="peerhub-directory" content="http://127.0.0.1:8000/">`) {
		t.Errorf("peer page lacks its directory:\n%s", body)
	}
	want := strings.Replace(Policy, "connect-src 'self';", "connect-src 'self' http://127.0.0.1:8000;", 1)
	for _, path := range []string{"/", "/ui/peer.js", "/ui/missing.js"} {
		res, _ := get(t, mounted(t, d), path, nil)
		if got := res.Header.Get("Content-Security-Policy"); got != want {
			t.Errorf("%s: policy %q, want %q", path, got, want)
		}
	}
	for _, dir := range []string{"", "ftp://x", "http://a b", "not a url", "http://x';script-src *"} {
		if got := (Dashboard{Role: RolePeer, Directory: dir}).ContentPolicy(); got != Policy {
			t.Errorf("directory %q: policy %q, want the strict one", dir, got)
		}
	}
	if got := (Dashboard{Role: RoleDirectory, Directory: "http://x"}).ContentPolicy(); got != Policy {
		t.Errorf("directory page: policy %q", got)
	}
}
