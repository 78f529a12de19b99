package testutil

import (
	"net/http"
	"strings"
	"testing"
)

// Preflight sends the CORS preflight that a browser on a page of origin
// sends before calling method on url with the request headers named, and
// returns the answer's status and its Access-Control-* headers only.
func Preflight(t testing.TB, url, origin, method string, headers ...string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if len(headers) > 0 {
		// Browsers send the names lowercased and sorted, comma-separated.
		req.Header.Set("Access-Control-Request-Headers", strings.ToLower(strings.Join(headers, ",")))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("preflight %s %s: %v", method, url, err)
	}
	res.Body.Close()
	return res.StatusCode, AccessControl(res.Header)
}

// AccessControl returns the Access-Control-* headers of h.
func AccessControl(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}
