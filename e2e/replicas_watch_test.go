package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store/postgres/pgtest"
)

// A live search on replica B sees what peers do through replica A of the
// same PostgreSQL database, which B learns of only by its poll (the
// default, one second): a publish, a logout, and a peer that stops
// heartbeating and expires.
func TestReplicasWatchSearch(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	a := startDirectoryInProcess(t, dbURL)
	b := startDirectoryInProcess(t, dbURL)
	for _, u := range []string{"p1", "p2", "alice"} {
		if err := b.srv.Directory().AddUser(t.Context(), u, testnet.Password); err != nil {
			t.Fatalf("add user %s: %v", u, err)
		}
	}
	alice := session.New(session.Config{Directory: b.url, Username: "alice", Password: testnet.Password})
	if err := alice.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	stream, err := alice.Client().WatchSearch(ctx, connect.NewRequest(&directoryv1.WatchSearchRequest{Query: "replicated"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	next := func(want string) {
		t.Helper()
		start := time.Now()
		for stream.Receive() {
			ev := stream.Msg()
			if ev.GetType() == directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE {
				continue
			}
			var peers []string
			for _, s := range ev.GetResult().GetSources() {
				peers = append(peers, s.GetPeer())
			}
			got := fmt.Sprintf("%s %v %v", ev.GetType(), ev.GetResult().GetNames(), peers)
			if got != want {
				t.Fatalf("event %q, want %q", got, want)
			}
			t.Logf("%s after %v", want, time.Since(start).Round(time.Millisecond))
			return
		}
		t.Fatalf("stream ended: %v; want %q", stream.Err(), want)
	}
	next("WATCH_EVENT_TYPE_SYNCED [] []")

	peerLogin := func(name string) *session.Session {
		s := session.New(session.Config{Directory: a.url, Username: name, Password: testnet.Password, Advertise: "http://127.0.0.1:9/"})
		if err := s.Login(t.Context()); err != nil {
			t.Fatalf("%s login through A: %v", name, err)
		}
		return s
	}
	p1 := peerLogin("p1")
	if err := p1.PublishSnapshot(t.Context(), []*directoryv1.FileEntry{fileEntry("replicated one.ogg", "one")}); err != nil {
		t.Fatal(err)
	}
	next("WATCH_EVENT_TYPE_ADDED [replicated one.ogg] [p1]")
	if err := p1.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}
	next("WATCH_EVENT_TYPE_REMOVED [replicated one.ogg] [p1]")

	// p2 publishes through A and never heartbeats: it leaves the search
	// after its session TTL, with nothing written anywhere.
	p2 := peerLogin("p2")
	if err := p2.PublishSnapshot(t.Context(), []*directoryv1.FileEntry{fileEntry("replicated two.ogg", "two")}); err != nil {
		t.Fatal(err)
	}
	next("WATCH_EVENT_TYPE_ADDED [replicated two.ogg] [p2]")
	t.Logf("session TTL %v", directory.DefaultSessionTTLFactor*replicaHeartbeat)
	next("WATCH_EVENT_TYPE_REMOVED [replicated two.ogg] [p2]")
}
