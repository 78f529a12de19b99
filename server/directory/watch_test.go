package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
)

// runDir runs d's background work (reaper, live searches) until the test
// ends or stop is called.
func runDir(t *testing.T, d *directory.Directory) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(ctx) })
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return stop
}

// watchLogin opens a session of user (a peer session named user when peer) and
// returns its verified claims.
func watchLogin(t *testing.T, d *directory.Directory, user string, peer bool) token.Claims {
	t.Helper()
	cr := directory.Credentials{Username: user, Password: "pw"}
	if peer {
		cr.AdvertiseAddress = "http://10.0.0.1:8001"
	}
	g, err := d.Login(t.Context(), cr)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	c, err := d.Authenticate(t.Context(), g.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// describe writes events as "TYPE name1,name2 [peer1 peer2]" lines, the
// part of them a test can predict.
func describe(events []directory.WatchEvent) string {
	var b strings.Builder
	for _, ev := range events {
		var peers []string
		for _, s := range ev.Result.Sources {
			peers = append(peers, s.Peer)
		}
		fmt.Fprintf(&b, "%d %s %v\n", ev.Type, strings.Join(ev.Result.Names, ","), peers)
	}
	return b.String()
}

// next waits (at most 10 s) for w's next events but keepalives.
func next(t *testing.T, w *directory.Watch) []directory.WatchEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		evs, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(evs) != 1 || evs[0].Type != directory.WatchKeepalive {
			return evs
		}
	}
}

func expect(t *testing.T, got []directory.WatchEvent, want ...string) {
	t.Helper()
	if g, w := describe(got), strings.Join(want, "\n")+"\n"; g != w {
		t.Fatalf("events:\n%swant:\n%s", g, w)
	}
}

// A watch sees the current matches, then each peer that publishes, joins
// with the same content, logs out, and expires.
func TestWatchFollowsPeers(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) { cfg.WatchPoll = 20 * time.Millisecond })
	runDir(t, d)
	addUsers(t, d, "ann", "bob", "carl")
	ann := watchLogin(t, d, "ann", true)
	if _, err := d.Publish(t.Context(), ann, directory.Change{Snapshot: true, Added: []store.File{file("song-a.ogg"), file("other.txt")}}); err != nil {
		t.Fatal(err)
	}
	w, err := d.Watch(t.Context(), watchLogin(t, d, "carl", false), store.SearchQuery{Query: "SONG"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const (
		current = directory.WatchCurrent
		synced  = directory.WatchSynced
		added   = directory.WatchAdded
		removed = directory.WatchRemoved
		changed = directory.WatchChanged
	)
	expect(t, next(t, w), fmt.Sprintf("%d song-a.ogg [ann]", current), fmt.Sprintf("%d  []", synced))

	bob := watchLogin(t, d, "bob", true)
	if _, err := d.Publish(t.Context(), bob, directory.Change{Added: []store.File{file("song-b.ogg")}}); err != nil {
		t.Fatal(err)
	}
	expect(t, next(t, w), fmt.Sprintf("%d song-b.ogg [bob]", added))
	// The same content under the same name: one more source.
	if _, err := d.Publish(t.Context(), bob, directory.Change{Added: []store.File{file("song-a.ogg")}}); err != nil {
		t.Fatal(err)
	}
	expect(t, next(t, w), fmt.Sprintf("%d song-a.ogg [ann bob]", changed))
	// A heartbeat changes a source's last-seen time only: no event.
	c.Advance(time.Second)
	if _, err := d.Heartbeat(t.Context(), ann, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A second watch's first answer comes from a round after the
	// heartbeat: the first watch has seen that round too.
	w2, err := d.Watch(t.Context(), watchLogin(t, d, "carl", false), store.SearchQuery{Query: "SONG"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, next(t, w2), fmt.Sprintf("%d song-a.ogg [ann bob]", current), fmt.Sprintf("%d song-b.ogg [bob]", current), fmt.Sprintf("%d  []", synced))
	w2.Close()
	if err := d.Logout(t.Context(), bob, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, next(t, w), fmt.Sprintf("%d song-b.ogg [bob]", removed), fmt.Sprintf("%d song-a.ogg [ann]", changed))
	// ann stops heartbeating: at her expiry the next poll sees her gone,
	// though nothing was written.
	c.Advance(directory.DefaultSessionTTLFactor*directory.DefaultHeartbeatInterval + time.Second)
	expect(t, next(t, w), fmt.Sprintf("%d song-a.ogg [ann]", removed))
}

// One account may open MaxAccountWatches watches at once; the next is
// refused with ErrLimit, other accounts are unaffected, and closing one
// frees its slot.
func TestWatchLimitPerAccount(t *testing.T) {
	t.Parallel()
	d := newDir(t, newStore(t), newClock(), func(cfg *directory.Config) {
		cfg.MaxAccountWatches = 3
		cfg.WatchPoll = 20 * time.Millisecond
	})
	runDir(t, d)
	addUsers(t, d, "mallory", "ann")
	mallory := watchLogin(t, d, "mallory", false)
	var open []*directory.Watch
	for i := range 3 {
		// Another session of the same account counts alike.
		w, err := d.Watch(t.Context(), watchLogin(t, d, "mallory", false), store.SearchQuery{Query: fmt.Sprintf("q%02d", i)})
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		open = append(open, w)
	}
	_, err := d.Watch(t.Context(), mallory, store.SearchQuery{Query: "one-too-many"})
	if !errors.Is(err, directory.ErrLimit) || !strings.Contains(err.Error(), "3") {
		t.Fatalf("fourth watch: %v, want ErrLimit naming the limit", err)
	}
	w, err := d.Watch(t.Context(), watchLogin(t, d, "ann", false), store.SearchQuery{Query: "q00"})
	if err != nil {
		t.Fatalf("another account's watch: %v", err)
	}
	expect(t, next(t, w), fmt.Sprintf("%d  []", directory.WatchSynced))
	w.Close()
	open[0].Close()
	open[0].Close() // twice is harmless: one slot only comes back
	if w, err = d.Watch(t.Context(), mallory, store.SearchQuery{Query: "again"}); err != nil {
		t.Fatalf("watch after closing one: %v", err)
	}
	if _, err := d.Watch(t.Context(), mallory, store.SearchQuery{Query: "again"}); !errors.Is(err, directory.ErrLimit) {
		t.Fatalf("watch past the limit again: %v", err)
	}
	w.Close()
}

// A watch sends keepalives while nothing happens, ends once its session
// does, and ends with ErrUnavailable when the directory stops.
func TestWatchKeepaliveSessionAndShutdown(t *testing.T) {
	t.Parallel()
	d := newDir(t, newStore(t), newClock(), func(cfg *directory.Config) {
		cfg.WatchPoll = 20 * time.Millisecond
		cfg.WatchKeepalive = 50 * time.Millisecond
	})
	stop := runDir(t, d)
	addUsers(t, d, "carl")
	carl := watchLogin(t, d, "carl", false)
	w, err := d.Watch(t.Context(), carl, store.SearchQuery{Query: "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect(t, next(t, w), fmt.Sprintf("%d  []", directory.WatchSynced))
	if evs, err := w.Next(t.Context()); err != nil || len(evs) != 1 || evs[0].Type != directory.WatchKeepalive {
		t.Fatalf("a quiet watch's next events: %v, %v; want a keepalive", describe(evs), err)
	}
	if err := d.Logout(t.Context(), carl, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(t.Context()); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Fatalf("Next after logout: %v, want ErrUnauthenticated", err)
	}

	if _, err := d.Watch(t.Context(), carl, store.SearchQuery{Query: "ab"}); !errors.Is(err, directory.ErrInvalidArgument) {
		t.Fatalf("2-character query: %v", err)
	}
	carl = watchLogin(t, d, "carl", false)
	w2, err := d.Watch(t.Context(), carl, store.SearchQuery{SHA256Prefix: "0123abcd"})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	expect(t, next(t, w2), fmt.Sprintf("%d  []", directory.WatchSynced))
	stop()
	if _, err := w2.Next(t.Context()); !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("Next after shutdown: %v, want ErrUnavailable", err)
	}
	if _, err := d.Watch(t.Context(), carl, store.SearchQuery{Query: "late"}); !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("Watch after shutdown: %v, want ErrUnavailable", err)
	}
}
