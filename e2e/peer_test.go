package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/index"
)

func found(t *testing.T, c directoryv1connect.DirectoryServiceClient, query string) bool {
	return searchable(t, c, query) == nil
}

// searchable returns nil if a search for each query finds something,
// else why not (for testutil.Eventually).
func searchable(t *testing.T, c directoryv1connect.DirectoryServiceClient, queries ...string) error {
	for _, q := range queries {
		res, err := c.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: q}))
		if err != nil {
			return fmt.Errorf("search %q: %w", q, err)
		}
		if len(res.Msg.GetResults()) == 0 {
			return fmt.Errorf("search %q: no result", q)
		}
	}
	return nil
}

// listed returns nil if the online peers are exactly want (name to file
// count), else what they are.
func listed(t *testing.T, c directoryv1connect.DirectoryServiceClient, want map[string]int64) error {
	got := peerNames(t, c)
	if len(got) != len(want) {
		return fmt.Errorf("peers %v, want %v", got, want)
	}
	for name, n := range want {
		if m, ok := got[name]; !ok || m != n {
			return fmt.Errorf("peers %v, want %v", got, want)
		}
	}
	return nil
}

// TestSharedFolderIsLive checks that a file copied into a shared folder is
// found within 2 seconds and a deleted one disappears within 2 seconds.
func TestSharedFolderIsLive(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"first.txt": []byte("first")}})
	c := client(t, n)
	testutil.Eventually(t, 10*time.Second, "the initial file is published", func() error { return searchable(t, c, "first.txt") })

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
	testutil.Eventually(t, 2*time.Second, "new files are found within 2s", func() error { return searchable(t, c, "arrived.txt", "written-in-place") })
	t.Logf("new files searchable after %s", time.Since(start))

	start = time.Now()
	if err := os.Remove(filepath.Join(p.Share, "arrived.txt")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, "a deleted file is gone within 2s", func() error {
		if found(t, c, "arrived.txt") {
			return fmt.Errorf("arrived.txt still found")
		}
		return nil
	})
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
	warned := &peerWarnings{}
	n := testnet.Start(t, testnet.Options{Heartbeat: heartbeat, Store: "memory", Logger: slog.New(warned.handler())})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"a.txt": []byte("a"), "b.txt": []byte("b")}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"c.txt": []byte("c")}})
	c := client(t, n)
	both := map[string]int64{"p1": 2, "p2": 1}
	testutil.Eventually(t, 10*time.Second, "both peers are listed", func() error { return listed(t, c, both) })

	// A memory store forgets everything: accounts, sessions, keys. The
	// peers must log in again (with new keys) and republish.
	warned.arm()
	n.StopDirectory()
	// The peers notice: each warns of a failed heartbeat.
	testutil.Eventually(t, 0, "both peers notice the directory is gone", func() error { return warned.from("p1", "p2") })
	n.StartDirectory()
	for _, u := range []string{"alice", "p1", "p2"} {
		n.AddUser(u)
	}
	back := time.Now()
	c = client(t, n)
	// One heartbeat interval, plus the backoff's jitter allowance.
	testutil.Eventually(t, heartbeat+time.Second, "peers are back with their files within a heartbeat", func() error { return listed(t, c, both) })
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
	testutil.Eventually(t, 10*time.Second, "both peers' files are published", func() error { return searchable(t, c, "leaving.txt", "staying.txt") })
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
	// Hashing 1000 files under -race on a loaded machine can starve the
	// client's 1 s heartbeats past the 3 s session lifetime; nothing here
	// is about presence, so sessions get room.
	n := testnet.Start(t, testnet.Options{Heartbeat: 5 * time.Second})
	// An unchanged folder: files written an hour ago, and hashed only once
	// their ctime (which cannot be set back) is older than
	// index.RacyWindow. (Files changed within moments of being hashed are
	// hashed again on the next start, as git does for racily clean files,
	// so "now" would not be unchanged.)
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
	written := time.Now()
	testutil.Eventually(t, 0, "files older than the racy window", func() error {
		if age := time.Since(written); age <= 2*index.RacyWindow {
			return fmt.Errorf("written %s ago", age)
		}
		return nil
	})
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
	testutil.Eventually(t, 10*time.Second, "the restarted peer republishes its 1000 files", func() error {
		return listed(t, c, map[string]int64{"p1": 1000})
	})
}

// peerWarnings records which peers logged a warning (or worse) since it
// was armed: how a test learns that the peers noticed something (a failed
// heartbeat) without sleeping. Its handler is the network's log.
type peerWarnings struct {
	mu    sync.Mutex
	armed bool
	seen  map[string]bool
}

// arm forgets what was seen and starts recording.
func (w *peerWarnings) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.seen = true, map[string]bool{}
}

// from returns nil once each of peers has warned since arm.
func (w *peerWarnings) from(peers ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range peers {
		if !w.seen[p] {
			return fmt.Errorf("no warning from %s yet (seen %v)", p, w.seen)
		}
	}
	return nil
}

// handler returns the slog handler that reports to w.
func (w *peerWarnings) handler() slog.Handler { return warnHandler{w: w} }

// warnHandler is a peerWarnings' slog.Handler; peer is the "peer"
// attribute its logger carries.
type warnHandler struct {
	w    *peerWarnings
	peer string
}

func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnHandler) Handle(context.Context, slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	if h.w.armed && h.peer != "" {
		h.w.seen[h.peer] = true
	}
	return nil
}

func (h warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		if a.Key == "peer" {
			h.peer = a.Value.String()
		}
	}
	return h
}

func (h warnHandler) WithGroup(string) slog.Handler { return h }

func itoa(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}
