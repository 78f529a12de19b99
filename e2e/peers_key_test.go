package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
)

// peerRow is the line of `peerhub peers` that lists name.
func peerRow(out, name string) string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return line
		}
	}
	return ""
}

// TestPeersShowsChangedKey: `peerhub peers` shows a peer's key as pinned,
// and as changed once the peer logs in again with another key (its
// generated key deleted, as after a reinstall or a takeover by someone
// with the account's password).
func TestPeersShowsChangedKey(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{TLS: true})
	p1 := n.AddPeer("p1", testnet.PeerOptions{})
	old := p1.Daemon.Pin()
	testutil.Eventually(t, 0, "p1 listed with its key pinned", func() error {
		out := mustRunCLI(t, n.DirectoryURL, "peers")
		if !strings.Contains(out, "KEY") || !strings.HasSuffix(strings.TrimSpace(peerRow(out, "p1")), "pinned") {
			return fmt.Errorf("peers:\n%s", out)
		}
		return nil
	})

	if err := p1.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(p1.Share, sharepath.StateDir, "tls")); err != nil {
		t.Fatal(err)
	}
	p1 = n.AddPeer("p1", testnet.PeerOptions{Share: p1.Share})
	if p1.Daemon.Pin() == old {
		t.Fatal("the restarted peer kept its key")
	}
	testutil.Eventually(t, 0, "p1 listed with its key changed", func() error {
		out := mustRunCLI(t, n.DirectoryURL, "peers")
		if row := peerRow(out, "p1"); !strings.Contains(row, "changed ") || !strings.HasSuffix(strings.TrimSpace(row), " ago") {
			return fmt.Errorf("peers:\n%s", out)
		}
		return nil
	})
}
