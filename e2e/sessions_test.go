package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
)

// directoryMetric reads one sample from the directory's /metrics.
func directoryMetric(t *testing.T, n *testnet.Network, sample string) float64 {
	t.Helper()
	return testutil.Metric(t, n.DirectoryURL+"/metrics", sample)
}

// TestHeartbeatIntervalChange: a directory restarted (same data) with a
// shorter heartbeat interval announces it in its heartbeat answers, and
// the peers follow it without logging in again. Before, peers kept the
// cadence learned at login, outran the new session TTL (3 × 300 ms) and
// all logged in again (with a password check each).
func TestHeartbeatIntervalChange(t *testing.T) {
	t.Parallel()
	const before, after = 3 * time.Second, 300 * time.Millisecond
	n := testnet.Start(t, testnet.Options{Heartbeat: before})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"a.txt": []byte("a")}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"b.txt": []byte("b")}})
	c := client(t, n)
	testutil.Eventually(t, 10*time.Second, "both peers are listed", func() error { return listed(t, c, map[string]int64{"p1": 1, "p2": 1}) })

	n.StopDirectory()
	n.SetHeartbeat(after)
	n.StartDirectory()
	c = client(t, n) // the one password login of this directory's life

	// Each peer's last heartbeat, as the directory lists it, must change
	// at the new cadence: ten beats each within ten old intervals would be
	// impossible at the old cadence.
	seen := map[string]map[time.Time]bool{"p1": {}, "p2": {}}
	testutil.Eventually(t, 10*before, "both peers heartbeat at the new interval", func() error {
		res, err := c.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
		if err != nil {
			return err
		}
		for _, p := range res.Msg.GetPeers() {
			if s := seen[p.GetName()]; s != nil {
				s[p.GetLastSeen().AsTime()] = true
			}
		}
		for name, s := range seen {
			if len(s) < 10 {
				return fmt.Errorf("%s: %d distinct heartbeats seen", name, len(s))
			}
		}
		return nil
	})
	if got := directoryMetric(t, n, `peerhub_directory_logins_total{kind="peer"}`); got != 0 {
		t.Errorf("peer logins at the restarted directory = %v, want 0", got)
	}
	if got := directoryMetric(t, n, "peerhub_directory_password_checks_total"); got != 1 {
		t.Errorf("password checks at the restarted directory = %v, want 1 (the test's client)", got)
	}
	if err := listed(t, c, map[string]int64{"p1": 1, "p2": 1}); err != nil {
		t.Error(err)
	}
}
