package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/testutil"
)

// downloadsServed is how many Download calls peer p completed with code
// ok, from its /metrics.
func downloadsServed(t *testing.T, p *testnet.Peer) int {
	t.Helper()
	return int(metric(t, p.URL, `peerhub_rpc_requests_total{code="ok",procedure="`+peerv1connect.PeerServiceDownloadProcedure+`"}`))
}

// sourcesOf returns, for each sha256 search finds for query, the peers
// listed as its sources, sorted.
func sourcesOf(t *testing.T, c directoryv1connect.DirectoryServiceClient, query string) map[string][]string {
	t.Helper()
	res, err := c.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
	if err != nil {
		t.Fatalf("search %q: %v", query, err)
	}
	out := map[string][]string{}
	for _, r := range res.Msg.GetResults() {
		for _, s := range r.GetSources() {
			out[r.GetSha256()] = append(out[r.GetSha256()], s.GetPeer())
		}
		slices.Sort(out[r.GetSha256()])
	}
	return out
}

// TestRewriteOnOtherPeer is the first failure with two peers: both
// share the same file, and one rewrites its copy in place with the same
// size and restores its modification time. A get of the old sha256 (right
// after the rewrite, while the directory may still list both) succeeds and
// is served by the other peer only: the rewritten one completes no
// download of it. Once it re-indexed, a get of the new sha256 succeeds,
// served by the rewritten peer.
func TestRewriteOnOtherPeer(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	v1, v2 := testutil.RandBytes(3<<20+17, 21), testutil.RandBytes(3<<20+17, 22)
	s1, s2 := testutil.SHA256Hex(v1), testutil.SHA256Hex(v2)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"report.bin": v1}})
	p2 := n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"report.bin": v1}})
	c := client(t, n)
	testutil.Eventually(t, 0, "both peers publish the file", func() error {
		if got := sourcesOf(t, c, "report.bin"); !slices.Equal(got[s1], []string{"p1", "p2"}) {
			return fmt.Errorf("search shows %v", got)
		}
		return nil
	})

	testutil.RewriteKeepingTimes(t, filepath.Join(p1.Share, "report.bin"), 0, v2)
	out := t.TempDir()
	if r := contentGet(t, n, s1, out); r.code != 0 {
		t.Fatalf("get of the old content: exit %d: %s", r.code, r.err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "report.bin")); err != nil || !bytes.Equal(b, v1) {
		t.Fatalf("get of the old content saved %d bytes (%v), want the old content", len(b), err)
	}
	if got := downloadsServed(t, p1); got != 0 {
		t.Errorf("the rewritten peer completed %d downloads of the old content, want 0", got)
	}
	t.Logf("the rewritten peer refused %v downloads of the old content",
		metric(t, p1.URL, `peerhub_rpc_requests_total{code="failed_precondition",procedure="`+peerv1connect.PeerServiceDownloadProcedure+`"}`))
	served2 := downloadsServed(t, p2)
	if served2 == 0 {
		t.Error("the other peer completed no download of the old content")
	}

	testutil.Eventually(t, 0, "rewritten peer publishes the new content", func() error {
		got := sourcesOf(t, c, "report.bin")
		if !slices.Equal(got[s1], []string{"p2"}) || !slices.Equal(got[s2], []string{"p1"}) {
			return fmt.Errorf("search shows %v, want %s from p2 and %s from p1", got, s1, s2)
		}
		return nil
	})
	out = t.TempDir()
	if r := contentGet(t, n, s2, out); r.code != 0 {
		t.Fatalf("get of the new content: exit %d: %s", r.code, r.err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "report.bin")); err != nil || !bytes.Equal(b, v2) {
		t.Fatalf("get of the new content saved %d bytes (%v), want the new content", len(b), err)
	}
	if downloadsServed(t, p1) == 0 {
		t.Error("the rewritten peer served no download of the new content")
	}
	if got := downloadsServed(t, p2); got != served2 {
		t.Errorf("the other peer served %d more downloads, though it lacks the new content", got-served2)
	}
}
