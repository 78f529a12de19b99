package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestSearchHashPrefix searches by a prefix of the content hash, with two
// real contents whose hashes share their first 8 digits, through Connect,
// gRPC and REST.
func TestSearchHashPrefix(t *testing.T) {
	t.Parallel()
	e := start(t)
	a, b := testutil.HashPrefixCollision(7)
	ha, hb := hexOf(string(a)), hexOf(string(b))
	common := 8
	for ha[common] == hb[common] {
		common++
	}
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	e.publish(peer.GetToken(), snapshot(entry("a.txt", string(a)), entry("b.txt", string(b)), entry("other.txt", "other")))
	tok := e.login(bob, bobPW, "", "").GetToken()

	cases := []struct {
		name   string
		prefix string
		want   []string
	}{
		{"shared 8 digits", ha[:8], []string{ha, hb}},
		{"all they share", ha[:common], []string{ha, hb}},
		{"one digit more", ha[:common+1], []string{ha}},
		{"a whole hash", hb, []string{hb}},
	}
	for _, p := range protocols {
		for _, c := range cases {
			t.Run(p.name+" "+c.name, func(t *testing.T) {
				t.Parallel()
				res := call(t, e, p, tok, "Search", &directoryv1.SearchRequest{Sha256Prefix: c.prefix}, &directoryv1.SearchResponse{})
				var got []string
				for _, r := range res.GetResults() {
					got = append(got, r.GetSha256())
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(c.want))
				if !slices.Equal(got, want) {
					t.Fatalf("prefix %s: got %v, want %v", c.prefix, got, want)
				}
			})
		}
		bad := []*directoryv1.SearchRequest{
			{Sha256Prefix: ha[:7]},
			{Sha256Prefix: strings.ToUpper(ha[:8])},
			{Sha256Prefix: ha + "0"},
			{Sha256Prefix: ha[:8], Sha256: ha},
		}
		for _, req := range bad {
			expectCode(t, e, p, tok, "Search", req, &directoryv1.SearchResponse{}, connect.CodeInvalidArgument)
		}
	}

	t.Run("REST", func(t *testing.T) {
		t.Parallel()
		for _, param := range []string{"sha256_prefix", "sha256Prefix"} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+"/v1/search?"+param+"="+ha[:8], nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var got struct{ Results []struct{ Sha256 string } }
			if err := json.Unmarshal(body, &got); err != nil || res.StatusCode != http.StatusOK || len(got.Results) != 2 {
				t.Errorf("GET /v1/search?%s=%s: %s %s (%v)", param, ha[:8], res.Status, body, err)
			}
		}
	})
}
