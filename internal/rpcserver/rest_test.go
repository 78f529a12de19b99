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

func TestClientAddress(t *testing.T) {
	t.Parallel()
	for remote, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"[::ffff:10.0.0.1]:80":       "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:22":          "fe80::/64",
		"[::1]:8000":                 "::/64",
		"not an address":             "not an address",
	} {
		if got := ClientAddress(remote); got != want {
			t.Errorf("ClientAddress(%q) = %q, want %q", remote, got, want)
		}
	}
}
