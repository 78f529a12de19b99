package e2e_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// countingTransport counts the requests to one procedure.
type countingTransport struct {
	next      http.RoundTripper
	procedure string
	n         atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == c.procedure {
		c.n.Add(1)
	}
	return c.next.RoundTrip(req)
}

// TestTokensAskedOnceForConcurrentCallers asks a session for the same
// peer's download token from several goroutines at once, as get does when
// it asks ahead while the downloader's first call needs it: the directory
// is asked once, and every caller gets that token.
func TestTokensAskedOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"a.txt": []byte("a")}})
	count := &countingTransport{next: rpcclient.NewHTTPClient().Transport, procedure: directoryv1connect.DirectoryServiceIssueTokenProcedure}
	cfg := aliceAt(n)
	cfg.HTTPClient = &http.Client{Transport: count}
	s := loggedIn(t, cfg)
	waitFound(t, s, "a.txt", "p1")

	tokens := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)
	const callers = 8
	raws := make([]string, callers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range callers {
		wg.Go(func() {
			start.Wait()
			raw, err := tokens.Token(t.Context(), "p1")
			if err != nil {
				t.Errorf("Token: %v", err)
			}
			raws[i] = raw
		})
	}
	start.Done()
	wg.Wait()
	if got := count.n.Load(); got != 1 {
		t.Fatalf("%d IssueToken calls for %d concurrent callers, want 1", got, callers)
	}
	for i, raw := range raws {
		if raw == "" || raw != raws[0] {
			t.Fatalf("caller %d got token %q, caller 0 %q: want the same one", i, raw, raws[0])
		}
	}
}
