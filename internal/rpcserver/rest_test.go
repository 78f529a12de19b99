package rpcserver

import "testing"

func TestMuxPath(t *testing.T) {
	t.Parallel()
	for template, want := range map[string]string{
		"/v1/login":              "/v1/login",
		"/v1/files/{peer}":       "/v1/files/{w2}",
		"/v1/{name=shelves/*}":   "/v1/shelves/{w2}",
		"/v1/*/x":                "/v1/{w1}/x",
		"/v1/blobs/{path=**}":    "/v1/blobs/{w2...}",
		"/v1/{a}/{b=c/*}/d":      "/v1/{w1}/c/{w3}/d",
		"/v1/x:verb":             "",
		"v1/login":               "",
		"/v1/{a=**}/x":           "",
		"/v1/a{b}":               "",
		"/v1/{a}b":               "",
		"/v1/{unclosed":          "",
		"/v1//login":             "",
		"/v1/{name=shelves/{x}}": "",
	} {
		got, err := muxPath(template)
		if want == "" {
			if err == nil {
				t.Errorf("muxPath(%q) = %q, want an error", template, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("muxPath(%q) = %q, %v; want %q", template, got, err, want)
		}
	}
}
