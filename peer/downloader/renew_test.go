package downloader_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// sleepyTokens is a TokenSource like a laptop's after it slept through a
// download: the token it holds for each peer has expired, and it learns so
// only when the peer refuses it; every token after a refusal is fresh.
type sleepyTokens struct {
	a *auth
	t testing.TB

	mu      sync.Mutex
	stale   map[string]bool // peers whose current token is the stale one
	refused int
}

func (s *sleepyTokens) Token(_ context.Context, peer string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.stale[peer]; !seen {
		s.stale[peer] = true
	}
	if s.stale[peer] {
		return s.a.Token(s.t, time.Now().Add(-2*testutil.IssuerTTL)), nil // expired an hour ago
	}
	return s.a.Token(s.t, time.Now()), nil
}

func (s *sleepyTokens) Refused(peer, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale[peer] = false
	s.refused++
}

// TestUnauthenticatedSourceRenewsToken: a source that answers
// Unauthenticated (the token expired while the laptop slept, or the peer
// restarted) is not dropped: the downloader tells its TokenSource, which
// issues a new token, and the next call succeeds.
func TestUnauthenticatedSourceRenewsToken(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "slept.bin", 3*mib, peerOptions{})
	tokens := &sleepyTokens{a: a, t: t, stale: map[string]bool{}}
	if _, err := downloader.Download(t.Context(), tgt, sources(peers...), downloader.Options{Dest: dest, Tokens: tokens}); err != nil {
		t.Fatalf("download from a source that refused a stale token: %v", err)
	}
	want, err := os.ReadFile(filepath.Join(peers[0].Dir, "slept.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}
	if tokens.refused == 0 {
		t.Error("the stale token was never refused: the test did not exercise a renewal")
	}
}
