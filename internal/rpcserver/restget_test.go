package rpcserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/rpcserver"
)

// TestRESTGetDirect checks the REST GET routes served as Connect GET calls
// instead of through vanguard: the implementation sees a Connect GET that
// vanguard did not make (vanguard's say Connect-Protocol-Version and
// connect=v1), with the query's fields under their JSON or proto names,
// and the caller gets the body a Connect client gets. Requests the
// direct path does not take (a parameter twice, a value that does not
// parse, an unknown parameter, no token) still get vanguard's answers.
func TestRESTGetDirect(t *testing.T) {
	t.Parallel()
	f := serve(t, rpcserver.Options{}, nil)
	hc := rpcclient.NewHTTPClient()
	get := func(t *testing.T, query string, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.url+"/v1/search?"+query, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+f.valid)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if ct := res.Header.Get("Content-Type"); res.StatusCode == http.StatusOK && ct != "application/json" {
			t.Errorf("GET ?%s: Content-Type %q, want application/json", query, ct)
		}
		return res.StatusCode, string(body)
	}
	token := func(t *testing.T, body string) string {
		t.Helper()
		var m struct{ NextPageToken string }
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return m.NextPageToken
	}

	var tok rpcclient.Token
	tok.Set(f.valid)
	client := directoryv1connect.NewDirectoryServiceClient(hc, f.url, rpcclient.Options(&tok)...)
	res, err := client.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: "a&b=c ü", PageSize: 7, PageToken: "t"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"query=" + url.QueryEscape("a&b=c ü") + "&pageSize=7&pageToken=t",
		"query=" + url.QueryEscape("a&b=c ü") + "&page_size=7&page_token=t",
	} {
		code, body := get(t, q, true)
		if code != http.StatusOK || token(t, body) != res.Msg.GetNextPageToken() {
			t.Errorf("GET ?%s: HTTP %d %s, want the echo %q", q, code, body, res.Msg.GetNextPageToken())
		}
		if via := f.dir.searchVia.Load(); via != "connect GET" {
			t.Errorf("GET ?%s: the implementation was called by %v, want connect GET (served without vanguard)", q, via)
		}
	}

	// Not for the direct path: vanguard answers as before.
	for _, c := range []struct {
		query string
		auth  bool
		code  int
	}{
		{"query=abc&query=def", true, http.StatusOK}, // vanguard takes the last
		{"query=abc&pageSize=x", true, http.StatusBadRequest},
		{"query=abc&pageSize=99999999999", true, http.StatusBadRequest},
		{"query=abc&bogus=1", true, http.StatusBadRequest},
		{"query=abc", false, http.StatusUnauthorized},
	} {
		f.dir.searchVia.Store("")
		code, body := get(t, c.query, c.auth)
		if code != c.code {
			t.Errorf("GET ?%s: HTTP %d %s, want %d", c.query, code, body, c.code)
		}
		if via := f.dir.searchVia.Load(); via != "" && via != "vanguard" {
			t.Errorf("GET ?%s: served by %v, want vanguard", c.query, via)
		}
	}
}
