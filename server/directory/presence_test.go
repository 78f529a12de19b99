package directory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
)

// A heartbeat of a session known live is answered from memory and written
// later (directory presence). These tests check what that must keep: the
// stored expiry, which every query of online peers reads, is at most
// SessionRecheck behind the last heartbeat even with no flush; Run writes
// the rest, also when it stops; and a written heartbeat never revives a
// session that ended in between.

// storedExpiry returns session id's expiry as the store has it at now.
func storedExpiry(t *testing.T, st store.Store, id string, now time.Time) time.Time {
	t.Helper()
	s, err := st.GetSession(t.Context(), id, now)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	return s.ExpiresAt
}

// flush runs d's background work for an instant: Run writes the pending
// heartbeats as its context ends.
func flush(t *testing.T, d *directory.Directory) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestHeartbeatStoredWithinLag(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	c := newClock()
	const ttl = 30 * time.Second
	d := newDir(t, st, c, func(cfg *directory.Config) { cfg.SessionTTL = ttl })
	addUsers(t, d, "ann")
	g := peerLogin(t, d, "ann", "p1")
	claims := mustClaims(t, d, g.Token)

	heartbeat := func(what string) time.Time {
		t.Helper()
		if _, err := d.Heartbeat(t.Context(), claims, time.Time{}); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		now := c.Now()
		got := storedExpiry(t, st, g.SessionID, now)
		if want := now.Add(ttl); got.After(want) || got.Before(want.Add(-directory.SessionRecheck)) {
			t.Fatalf("%s: stored expiry %v after a heartbeat at %v: want within %v before %v", what, got, now, directory.SessionRecheck, want)
		}
		return now
	}
	// A session read as live (by another call) long after its last
	// heartbeat: the next heartbeat must not wait in memory.
	c.Advance(ttl * 2 / 3)
	mustAuth(t, d, g.Token)
	heartbeat("heartbeat long after the previous one")

	// Heartbeats half a recheck apart, the last one answered from memory:
	// the stored expiry may lag, by at most SessionRecheck, and Run's
	// flush brings it up to date.
	var last time.Time
	for range 5 {
		c.Advance(directory.SessionRecheck / 2)
		last = heartbeat("heartbeats half a recheck apart")
	}
	flush(t, d)
	if got, want := storedExpiry(t, st, g.SessionID, last), last.Add(ttl); !got.Equal(want) {
		t.Errorf("stored expiry after Run's flush = %v, want %v (TTL after the last heartbeat)", got, want)
	}

	// Written at once, from memory, written at once: the flush that
	// follows must not set the expiry back to the one from memory.
	for range 3 {
		c.Advance(directory.SessionRecheck / 2)
		last = heartbeat("after the flush")
	}
	flush(t, d)
	if got, want := storedExpiry(t, st, g.SessionID, last), last.Add(ttl); !got.Equal(want) {
		t.Errorf("stored expiry after a heartbeat written at once and a flush = %v, want %v", got, want)
	}
}

func TestFlushedHeartbeatDoesNotRevive(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	c := newClock()
	d := newDir(t, st, c)
	addUsers(t, d, "ann")
	g := peerLogin(t, d, "ann", "p1")
	claims := mustClaims(t, d, g.Token)
	// Answered from memory: the session was read as live just now.
	if _, err := d.Heartbeat(t.Context(), claims, time.Time{}); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if err := d.Logout(t.Context(), claims, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Heartbeat(t.Context(), claims, time.Time{}); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("Heartbeat after logout = %v, want ErrUnauthenticated", err)
	}
	flush(t, d)
	if _, err := st.GetSession(t.Context(), g.SessionID, c.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after logout and a flush: GetSession = %v, want ErrNotFound", err)
	}
}

func TestHeartbeatOfExpiredSessionFails(t *testing.T) {
	t.Parallel()
	c := newClock()
	const ttl = 30 * time.Second
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) { cfg.SessionTTL = ttl })
	addUsers(t, d, "ann")
	g := peerLogin(t, d, "ann", "p1")
	claims := mustClaims(t, d, g.Token)
	c.Advance(ttl - time.Millisecond)
	if _, err := d.Heartbeat(t.Context(), claims, time.Time{}); err != nil {
		t.Fatalf("Heartbeat just before expiry: %v", err)
	}
	// Heartbeats from memory (less than SessionRecheck apart) never let
	// the session outlive TTL after the last one; none comes now.
	c.Advance(ttl)
	if _, err := d.Heartbeat(t.Context(), claims, time.Time{}); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("Heartbeat TTL after the last one = %v, want ErrUnauthenticated", err)
	}
}
