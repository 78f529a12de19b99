package e2e_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
)

// TestLongDownloadRenewsTokens runs a get that lasts over twice the life of
// a transfer token (2 s here, 5 minutes by default): it completes, asking
// the directory for fresh download tokens as it goes, and every call
// reached the peer with a download token for that peer that had not
// expired.
func TestLongDownloadRenewsTokens(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	n := testnet.Start(t, testnet.Options{TransferTTL: ttl})
	rec := newRecorder(t)
	content := testutil.RandBytes(5<<20, 11)
	// 1 MiB/s: about 5 s, two and a half token lives.
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"long.bin": content}, MaxRate: 1 << 20, Advertise: rec.URL})
	rec.forwardTo(t, p1.URL)
	waitFound(t, clientSession(t, n), "long.bin", "p1")

	out := t.TempDir()
	start := time.Now()
	mustRunCLI(t, n.DirectoryURL, "get", "-o", out, "long.bin")
	took := time.Since(start)
	if got, err := os.ReadFile(filepath.Join(out, "long.bin")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}
	tokens := map[string]bool{}
	for _, r := range rec.requests() {
		if !strings.HasPrefix(r.path, "/"+peerv1connect.PeerServiceName+"/") {
			continue
		}
		c := claimsOf(t, r.bearer)
		if c.Scope != token.ScopeDownload || !c.HasAudience("p1") || c.ExpiresAt.Sub(c.IssuedAt.Time) != ttl {
			t.Errorf("%s got a token %+v, want a download token for p1 valid %s", r.path, c, ttl)
		}
		// Renewed before it expires, not after a refusal.
		if !r.at.Before(c.ExpiresAt.Time) {
			t.Errorf("%s was sent a token %s after its expiry", r.path, r.at.Sub(c.ExpiresAt.Time))
		}
		tokens[r.bearer] = true
	}
	t.Logf("%s download with %d tokens of %s", took.Round(time.Millisecond), len(tokens), ttl)
	if took < 2*ttl {
		t.Fatalf("the download took %s, not long enough to need renewals", took)
	}
	if len(tokens) < 2 {
		t.Errorf("%d distinct tokens over %s: no renewal", len(tokens), took)
	}
}
