package e2e_test

import (
	"fmt"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestResolveAndDownload goes through a real directory: peers publish, the
// client resolves a name and downloads from every peer that has it. (It is
// here, not in peer/downloader, because it links the directory: a peer
// package's tests never import server/.)
func TestResolveAndDownload(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	data := make([]byte, 5*mib+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"shared/movie.bin": data}, MaxRate: 8 * mib})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"movie.bin": data}, MaxRate: 8 * mib})
	n.AddPeer("p3", testnet.PeerOptions{Files: map[string][]byte{"other.bin": data[:100]}})

	s := loggedIn(t, aliceAt(n))
	var c downloader.Candidate
	testutil.Eventually(t, 10*time.Second, "movie.bin resolves to two sources", func() error {
		var err error
		c, err = downloader.Resolve(t.Context(), s.Client(), "movie.bin")
		if err == nil && len(c.Sources) != 2 {
			err = fmt.Errorf("%d sources", len(c.Sources))
		}
		return err
	})
	if c.Name != "movie.bin" || c.FileName() != "movie.bin" {
		t.Errorf("resolved name %q (file %q), want the exact match movie.bin", c.Name, c.FileName())
	}
	dest := filepath.Join(t.TempDir(), c.FileName())
	res, err := downloader.Download(t.Context(), c.Target, c.Sources, downloader.Options{Dest: dest, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != c.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, c.SHA256)
	}
	for _, src := range res.Sources {
		if src.Pieces == 0 {
			t.Errorf("source %s served no piece", src.Peer)
		}
	}
}
