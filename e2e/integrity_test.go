package e2e_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/testutil"
)

// sharedSums returns the sha256 of every search result for query.
func sharedSums(t *testing.T, c directoryv1connect.DirectoryServiceClient, query string) []string {
	t.Helper()
	res, err := c.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
	if err != nil {
		t.Fatalf("search %q: %v", query, err)
	}
	var sums []string
	for _, r := range res.Msg.GetResults() {
		sums = append(sums, r.GetSha256())
	}
	return sums
}

// TestRewriteKeepingTimes is the first failure, on a real peer: a
// shared file rewritten in place with the same size and its modification
// time restored. A get of the old content fails cleanly (the peer never
// sends it, nothing is saved as verified); search soon shows the new
// sha256, a get of it succeeds; the peer's log says it re-indexed; and a
// rewrite while the peer is stopped is seen at its next start.
func TestRewriteKeepingTimes(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	n := testnet.Start(t, testnet.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	v1, v2, v3 := testutil.RandBytes(3<<20+17, 1), testutil.RandBytes(3<<20+17, 2), testutil.RandBytes(3<<20+17, 3)
	s1, s2, s3 := testutil.SHA256Hex(v1), testutil.SHA256Hex(v2), testutil.SHA256Hex(v3)
	p := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"report.bin": v1}})
	c := client(t, n)
	testutil.Eventually(t, 0, "first version published", func() error {
		if got := sharedSums(t, c, "report.bin"); !slices.Equal(got, []string{s1}) {
			return fmt.Errorf("search shows %v", got)
		}
		return nil
	})

	path := filepath.Join(p.Share, "report.bin")
	testutil.RewriteKeepingTimes(t, path, 0, v2)
	// The old content is gone from this peer: a get of it fails, now or
	// after the re-index, and never saves other bytes as that content.
	out := t.TempDir()
	r := contentGet(t, n, s1, out)
	if r.code == 0 {
		t.Fatalf("get of the old content succeeded: %s %s", r.out, r.err)
	}
	if strings.Contains(r.err, "does not match its hash") {
		t.Errorf("the peer sent a piece that fails its hash: %s", r.err)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(out, e.Name())); err == nil && len(b) == len(v1) && !bytes.Equal(b, v1) {
			t.Errorf("%s saved with other bytes than the old content", e.Name())
		}
	}

	testutil.Eventually(t, 0, "new version published, old one gone", func() error {
		if got := sharedSums(t, c, "report.bin"); !slices.Equal(got, []string{s2}) {
			return fmt.Errorf("search shows %v, want [%s]", got, s2)
		}
		return nil
	})
	out = t.TempDir()
	if r := contentGet(t, n, s2, out); r.code != 0 {
		t.Fatalf("get of the new content: exit %d: %s", r.code, r.err)
	}
	if got := testutil.FileSHA256(t, filepath.Join(out, "report.bin")); got != s2 {
		t.Fatalf("saved %s, want %s", got, s2)
	}
	if !strings.Contains(logs.String(), "re-index") {
		t.Error("the peer's log does not say it re-indexed the file")
	}

	// Rewritten while the peer is stopped: the hash cache must not vouch
	// for the old content at the next start.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	testutil.RewriteKeepingTimes(t, path, 0, v3)
	n.AddPeer("p1", testnet.PeerOptions{Share: p.Share})
	testutil.Eventually(t, 0, "restarted peer publishes the third version only", func() error {
		if got := sharedSums(t, c, "report.bin"); !slices.Equal(got, []string{s3}) {
			return fmt.Errorf("search shows %v, want [%s]", got, s3)
		}
		return nil
	})
	out = t.TempDir()
	if r := contentGet(t, n, s3, out); r.code != 0 {
		t.Fatalf("get after restart: exit %d: %s", r.code, r.err)
	}
	if r := contentGet(t, n, s2, t.TempDir()); r.code == 0 {
		t.Fatal("get of the second version succeeded after the restart")
	}
}

// TestGrowingFileNotPublished is the second failure, on a real
// peer with its default settle time: a file that grows by 1 MiB every
// 0.6 s is neither found nor downloadable while it is written, whether
// its writer keeps it open or reopens it for each write, and is published
// once, complete.
func TestGrowingFileNotPublished(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"seed.txt": []byte("seed")}, Settle: 3 * time.Second})
	c := client(t, n)
	testutil.Eventually(t, 0, "seed published", func() error { return searchable(t, c, "seed.txt") })
	data := testutil.RandBytes(6<<20, 4)
	for _, reopen := range []bool{false, true} {
		name := fmt.Sprintf("growing-reopen-%v.bin", reopen)
		path := filepath.Join(p.Share, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(600 * time.Millisecond)
		for off := 0; off < len(data); off += 1 << 20 {
			if reopen && off > 0 {
				if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.Write(data[off : off+1<<20]); err != nil {
				t.Fatal(err)
			}
			if reopen {
				f.Close()
			}
			<-tick.C
			if sums := sharedSums(t, c, name); len(sums) != 0 {
				t.Fatalf("%s published while being written (%d of %d MiB)", name, off>>20+1, len(data)>>20)
			}
			if off == 2<<20 {
				if r := contentGet(t, n, name, t.TempDir()); r.code == 0 {
					t.Fatalf("get of %s while being written succeeded: %s", name, r.out)
				}
			}
		}
		tick.Stop()
		f.Close()
		testutil.Eventually(t, 0, name+" published once complete", func() error {
			if got := sharedSums(t, c, name); !slices.Equal(got, []string{testutil.SHA256Hex(data)}) {
				return fmt.Errorf("search shows %v", got)
			}
			return nil
		})
	}
}
