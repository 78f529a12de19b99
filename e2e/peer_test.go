package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/testnet"
	"github.com/peerhub/peerhub/peer/session"
)

// client logs in as alice and keeps the session alive for the test.
func client(t *testing.T, n *testnet.Network) directoryv1connect.DirectoryServiceClient {
	t.Helper()
	s := session.New(session.Config{Directory: n.DirectoryURL, Username: "alice", Password: testnet.Password})
	if err := s.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.KeepAlive(ctx)
	t.Cleanup(func() { cancel(); s.Logout(context.Background()) })
	return s.Client()
}

func found(t *testing.T, c directoryv1connect.DirectoryServiceClient, query string) bool {
	res, err := c.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
	if err != nil {
		t.Logf("search %q: %v", query, err)
		return false
	}
	return len(res.Msg.GetResults()) > 0
}

func peerNames(t *testing.T, c directoryv1connect.DirectoryServiceClient) map[string]int64 {
	res, err := c.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
	if err != nil {
		t.Logf("list peers: %v", err)
		return nil
	}
	m := map[string]int64{}
	for _, p := range res.Msg.GetPeers() {
		m[p.GetName()] = p.GetFileCount()
	}
	return m
}

// TestSharedFolderIsLive checks that a file copied into a shared folder is
// found within 2 seconds and a deleted one disappears within 2 seconds.
func TestSharedFolderIsLive(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"first.txt": []byte("first")}})
	c := client(t, n)
	if !testnet.WaitFor(10*time.Second, func() bool { return found(t, c, "first.txt") }) {
		t.Fatal("the initial file was never published")
	}

	// Written elsewhere and renamed in, as a copy tool would; and one
	// written in place.
	tmp := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(tmp, []byte("new content"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := os.Rename(tmp, filepath.Join(p.Share, "arrived.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Share, "written-in-place.txt"), []byte("in place"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !testnet.WaitFor(2*time.Second, func() bool { return found(t, c, "arrived.txt") && found(t, c, "written-in-place") }) {
		t.Fatalf("new files not found within 2s")
	}
	t.Logf("new files searchable after %s", time.Since(start))

	start = time.Now()
	if err := os.Remove(filepath.Join(p.Share, "arrived.txt")); err != nil {
		t.Fatal(err)
	}
	if !testnet.WaitFor(2*time.Second, func() bool { return !found(t, c, "arrived.txt") }) {
		t.Fatalf("deleted file still found after 2s")
	}
	t.Logf("deleted file gone after %s", time.Since(start))
	if !found(t, c, "first.txt") {
		t.Fatal("an untouched file disappeared")
	}
}

// TestDirectoryRestart checks that peers come back by themselves, with their
// files, within one heartbeat interval of the directory's return.
func TestDirectoryRestart(t *testing.T) {
	t.Parallel()
	const heartbeat = 1 * time.Second
	n := testnet.Start(t, testnet.Options{Heartbeat: heartbeat, Store: "memory"})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"a.txt": []byte("a"), "b.txt": []byte("b")}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"c.txt": []byte("c")}})
	c := client(t, n)
	if !testnet.WaitFor(10*time.Second, func() bool { m := peerNames(t, c); return m["p1"] == 2 && m["p2"] == 1 }) {
		t.Fatal("peers never listed")
	}

	// A memory store forgets everything: accounts, sessions, keys. The
	// peers must log in again (with new keys) and republish.
	n.StopDirectory()
	time.Sleep(heartbeat) // let the peers notice
	n.StartDirectory()
	for _, u := range []string{"alice", "p1", "p2"} {
		n.AddUser(u)
	}
	back := time.Now()
	c = client(t, n)
	// One heartbeat interval, plus the backoff's jitter allowance.
	if !testnet.WaitFor(heartbeat+time.Second, func() bool { m := peerNames(t, c); return m["p1"] == 2 && m["p2"] == 1 }) {
		t.Fatalf("peers not back with their files after %s: %v", time.Since(back), peerNames(t, c))
	}
	t.Logf("peers back %s after the directory", time.Since(back))
	if !found(t, c, "a.txt") || !found(t, c, "c.txt") {
		t.Fatal("files not searchable after the restart")
	}
}

// TestPeerLeaves checks that a peer that shuts down logs out (gone at once)
// and that its files leave search.
func TestPeerLeaves(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"leaving.txt": []byte("bye")}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"staying.txt": []byte("hi")}})
	c := client(t, n)
	if !testnet.WaitFor(10*time.Second, func() bool { return found(t, c, "leaving.txt") && found(t, c, "staying.txt") }) {
		t.Fatal("files never published")
	}
	if err := p1.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if found(t, c, "leaving.txt") {
		t.Fatal("a peer that logged out is still a source")
	}
	if _, ok := peerNames(t, c)["p1"]; ok {
		t.Fatal("a peer that logged out is still listed")
	}
	if !found(t, c, "staying.txt") {
		t.Fatal("the other peer's file is gone")
	}
}

// TestPeerRestartHashesNothing checks that a peer restarted over an
// unchanged folder reuses its hash cache.
func TestPeerRestartHashesNothing(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	// An unchanged folder: files written an hour ago. (Files modified
	// within moments of being hashed are hashed again on the next start,
	// as git does for racily clean files, so "now" would not be unchanged.)
	share := filepath.Join(t.TempDir(), "p1")
	old := time.Now().Add(-time.Hour)
	for i := range 1000 {
		path := filepath.Join(share, "d"+string(rune('a'+i%10)), "f"+itoa(i)+".txt")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("content "+itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	n.AddUser("p1")
	p := n.AddPeer("p1", testnet.PeerOptions{Share: share})
	if got := p.Daemon.Index().Hashed(); got != 1000 {
		t.Fatalf("first start hashed %d files, want 1000", got)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	p = n.AddPeer("p1", testnet.PeerOptions{Share: share})
	if got := p.Daemon.Index().Hashed(); got != 0 {
		t.Fatalf("restart hashed %d files, want 0", got)
	}
	c := client(t, n)
	if !testnet.WaitFor(10*time.Second, func() bool { return peerNames(t, c)["p1"] == 1000 }) {
		t.Fatalf("restarted peer did not republish its 1000 files: %v", peerNames(t, c))
	}
}

func itoa(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}
