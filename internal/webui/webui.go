// Package webui serves the web dashboard embedded in the binary: plain
// HTML, CSS and JavaScript modules (no bundler, no framework) that talk to
// the server's own public API, Connect's JSON protocol over fetch, like any
// other client. The directory's dashboard logs in, searches as the user
// types, lists online peers with their accounts, browses a peer's files and
// shows a content's sources; a peer's dashboard shows what the peer shares
// (through the directory methods every peer forwards to its directory).
//
// Every response carries a strict Content-Security-Policy: scripts and
// styles only from the server itself, no inline script, fetch only to the
// server itself, no framing. The page keeps the session token in
// sessionStorage, never in a URL or a cookie.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Routes of the dashboard.
const (
	// PagePath is where the dashboard page is served.
	PagePath = "/"
	// AssetPrefix is where its scripts, style sheet and icon are served.
	AssetPrefix = "/ui/"
)

// Policy is the Content-Security-Policy of every dashboard response whose
// page fetches only from its own origin (the directory's); a peer's page
// also fetches from its directory (Dashboard.ContentPolicy).
const Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ContentPolicy is the Content-Security-Policy of d's responses: Policy,
// with the directory's origin added to connect-src on a peer's page.
func (d Dashboard) ContentPolicy() string {
	o := d.directoryOrigin()
	if o == "" {
		return Policy
	}
	return strings.Replace(Policy, "connect-src 'self';", "connect-src 'self' "+o+";", 1)
}

// directoryOrigin is the scheme://host[:port] of d.Directory, empty when
// there is none or it is not an http(s) URL.
func (d Dashboard) directoryOrigin() string {
	if d.Role != RolePeer || d.Directory == "" {
		return ""
	}
	u, err := url.Parse(d.Directory)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(u.Host, " ;'") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Role says which dashboard a server shows.
type Role string

// Roles with a dashboard.
const (
	// RoleDirectory is the directory's dashboard: search, peers, files,
	// sources.
	RoleDirectory Role = "directory"
	// RolePeer is a peer's dashboard: its shared folder, its transfers,
	// queue and limits, and the uploads it received.
	RolePeer Role = "peer"
)

// sharedParts is the template file of the parts both pages use (head,
// account bar, login form), in assets/.
const sharedParts = "parts.html"

// pageOf is each role's page template in assets/.
var pageOf = map[Role]string{
	RoleDirectory: "directory.html",
	RolePeer:      "peer.html",
}

// Dashboard configures the dashboard a server shows at PagePath. The zero
// value shows none.
type Dashboard struct {
	// Role picks the page; no dashboard if empty.
	Role Role
	// PeerName is the peer's name (RolePeer), which its page lists the
	// files of. The page gets it in a <meta> element, not a script, so the
	// policy needs no inline script.
	PeerName string
	// PeerAccount is the account the peer logs in with, which owns its
	// name (RolePeer): the page asks for the peer's status only when that
	// account signs in (the directory refuses everyone else anyway).
	PeerAccount string
	// Directory is the URL of the peer's directory (RolePeer), where its
	// page logs the user in and asks for tokens, in a <meta> element too.
	// The directory must allow the peer's origin (--cors-origin).
	Directory string
}

//go:embed assets
var assets embed.FS

// resource is one response body with its headers' values.
type resource struct {
	body        []byte
	contentType string
	etag        string
}

// Mount serves d's page at PagePath and the assets under AssetPrefix on
// mux (GET and HEAD). It does nothing for the zero Dashboard. An error
// means a role without a page or a broken embedded template: a build
// defect.
func Mount(mux *http.ServeMux, d Dashboard) error {
	if d.Role == "" {
		return nil
	}
	page, err := renderPage(d)
	if err != nil {
		return err
	}
	files, err := loadAssets()
	if err != nil {
		return err
	}
	policy := d.ContentPolicy()
	mux.Handle("GET "+PagePath+"{$}", serve(page, policy))
	mux.HandleFunc("GET "+AssetPrefix+"{name}", func(w http.ResponseWriter, r *http.Request) {
		res, ok := files[r.PathValue("name")]
		if !ok {
			setSecurityHeaders(w.Header(), policy)
			http.NotFound(w, r)
			return
		}
		serve(res, policy).ServeHTTP(w, r)
	})
	return nil
}

// renderPage fills d's page template once; the page is then a fixed body.
func renderPage(d Dashboard) (resource, error) {
	name, ok := pageOf[d.Role]
	if !ok {
		return resource{}, fmt.Errorf("dashboard: no page for role %q", d.Role)
	}
	// The page first: it is the template executed; parts.html holds
	// what both pages share.
	tmpl, err := template.ParseFS(assets, path.Join("assets", name), path.Join("assets", sharedParts))
	if err != nil {
		return resource{}, fmt.Errorf("dashboard page: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return resource{}, fmt.Errorf("dashboard page: %w", err)
	}
	return newResource(buf.Bytes(), "text/html; charset=utf-8"), nil
}

// loadAssets reads the scripts, style sheet and icon; the page templates
// are served only through renderPage.
func loadAssets() (map[string]resource, error) {
	entries, err := fs.ReadDir(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	files := make(map[string]resource, len(entries))
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if ext == ".html" {
			continue
		}
		body, err := assets.ReadFile(path.Join("assets", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("dashboard assets: %w", err)
		}
		ctype := contentTypes[ext]
		if ctype == "" {
			return nil, fmt.Errorf("dashboard asset %s: no content type for %q", e.Name(), ext)
		}
		files[e.Name()] = newResource(body, ctype)
	}
	return files, nil
}

// contentTypes are the types of the assets, fixed here rather than taken
// from the system's MIME table (module scripts must be JavaScript, and
// nosniff makes browsers hold servers to it).
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

func newResource(body []byte, contentType string) resource {
	sum := sha256.Sum256(body)
	return resource{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// setSecurityHeaders sets the headers every dashboard response carries.
func setSecurityHeaders(h http.Header, policy string) {
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY") // for browsers older than frame-ancestors
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// serve answers with res, revalidated by its ETag on every load (no-cache),
// so an upgraded binary's dashboard shows at once.
func serve(res resource, policy string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		setSecurityHeaders(h, policy)
		h.Set("Content-Type", res.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", res.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(res.body))
	})
}
