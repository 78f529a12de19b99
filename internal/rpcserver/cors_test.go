package rpcserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/peerhub/peerhub/internal/rpcserver"
)

func TestCORSValidate(t *testing.T) {
	t.Parallel()
	valid := [][]string{
		nil,
		{"https://app.example.com"},
		{"http://localhost:5173", "https://app.example.com:8443"},
		{"http://[::1]:8080"},
		{rpcserver.AnyOrigin},
	}
	for _, origins := range valid {
		if err := (rpcserver.CORS{Origins: origins}).Validate(); err != nil {
			t.Errorf("%q: %v", origins, err)
		}
	}
	invalid := map[string]string{
		"app.example.com":              "scheme://host",
		"ftp://app.example.com":        "http or https",
		"https://":                     "scheme://host",
		"https://app.example.com/":     "no path",
		"https://app.example.com/ui":   "no path",
		"https://app.example.com?x=1":  "query",
		"https://app.example.com#top":  "fragment",
		"https://me@app.example.com":   "user",
		"https://*.example.com":        `"*" is allowed only alone`,
		"":                             "scheme://host",
		"https://app.example.com:port": "scheme://host",
	}
	for origin, want := range invalid {
		err := (rpcserver.CORS{Origins: []string{"https://ok.example.com", origin}}).Validate()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), origin) {
			t.Errorf("%q: error %v, want one naming it and saying %q", origin, err, want)
		}
	}
}

// TestCORSAllow: origins that CORS.Allow reports are allowed besides
// CORS.Origins, as they appear; others get no Access-Control header.
func TestCORSAllow(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	late := map[string]bool{}
	s := rpcserver.New(rpcserver.Options{CORS: rpcserver.CORS{
		Origins: []string{"https://fixed.example.com"},
		Allow: func(o string) bool {
			mu.Lock()
			defer mu.Unlock()
			return late[o]
		},
	}})
	preflight := func(origin string) string {
		req := httptest.NewRequest(http.MethodOptions, "/peerhub.directory.v1.DirectoryService/Login", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "connect-protocol-version,content-type")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Header().Get("Access-Control-Allow-Origin")
	}
	const peer = "http://127.0.0.1:40123"
	if got := preflight(peer); got != "" {
		t.Errorf("before Allow reports it: Access-Control-Allow-Origin %q", got)
	}
	mu.Lock()
	late[peer] = true
	mu.Unlock()
	for _, o := range []string{peer, "https://fixed.example.com"} {
		if got := preflight(o); got != o {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", o, got)
		}
	}
	if got := preflight("https://elsewhere.example.com"); got != "" {
		t.Errorf("other origin: Access-Control-Allow-Origin %q", got)
	}
}
