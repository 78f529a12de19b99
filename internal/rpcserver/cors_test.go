package rpcserver_test

import (
	"strings"
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
