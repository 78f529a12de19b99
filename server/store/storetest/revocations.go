// The suite's tests of revocations (sessions ended by logout, replacement or
// account removal, which peers learn to refuse) and of the peer lookup that
// token issuing needs.

package storetest

import (
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// revoked returns the ids of the sessions revoked since since, failing
// the test on an error or on revocation times out of order.
func revoked(t *testing.T, s store.Store, since time.Time) []string {
	t.Helper()
	rvs, err := s.RevokedSessions(t.Context(), since)
	wantErr(t, "RevokedSessions", err, nil)
	ids := []string{}
	for i, rv := range rvs {
		if i > 0 && rv.RevokedAt.Before(rvs[i-1].RevokedAt) {
			t.Fatalf("RevokedSessions out of time order: %+v", rvs)
		}
		ids = append(ids, rv.SessionID)
	}
	return ids
}

func testRevocations(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	mustAccount(t, s, "carol")
	mustSession(t, s, peerSession("a-peer", "alice", "attic", at(time.Hour)))
	mustSession(t, s, clientSession("a-client", "alice", at(time.Hour)))
	mustSession(t, s, peerSession("b-peer", "bob", "basement", at(time.Hour)))
	mustSession(t, s, peerSession("b-short", "bob", "cellar", at(time.Minute)))
	same(t, "revoked at first", revoked(t, s, at(-time.Hour)), []string{})

	// Logout.
	wantErr(t, "DeleteSession", s.DeleteSession(ctx, "a-client", at(1*time.Minute)), nil)
	same(t, "after logout", revoked(t, s, at(-time.Hour)), []string{"a-client"})
	if rvs, err := s.RevokedSessions(ctx, at(-time.Hour)); err != nil || len(rvs) != 1 || !normTime(rvs[0].RevokedAt).Equal(normTime(at(time.Minute))) {
		t.Fatalf("RevokedSessions = %+v, %v; want a-client revoked at %v", rvs, err, at(time.Minute))
	}
	// A session that does not exist is neither deleted nor revoked.
	wantErr(t, "DeleteSession missing", s.DeleteSession(ctx, "ghost", at(1*time.Minute)), store.ErrNotFound)

	// Replacement: the peer logs in again under its name.
	if err := s.CreateSession(ctx, peerSession("a-peer2", "alice", "attic", at(time.Hour)), noLimit, at(2*time.Minute)); err != nil {
		t.Fatalf("re-login: %v", err)
	}
	same(t, "after re-login", revoked(t, s, at(-time.Hour)), []string{"a-client", "a-peer"})

	// Expiry is no revocation, reaped or not...
	if _, err := s.ReapExpired(ctx, at(3*time.Minute)); err != nil {
		t.Fatalf("ReapExpired: %v", err)
	}
	same(t, "after reaping", revoked(t, s, at(-time.Hour)), []string{"a-client", "a-peer"})
	// ...but an expired holder dropped by its account's next login is.
	mustSession(t, s, peerSession("b-old", "bob", "loft", at(time.Minute)))
	if err := s.CreateSession(ctx, peerSession("b-loft", "bob", "loft", at(time.Hour)), noLimit, at(4*time.Minute)); err != nil {
		t.Fatalf("take over an expired name: %v", err)
	}
	same(t, "after takeover", revoked(t, s, at(-time.Hour)), []string{"a-client", "a-peer", "b-old"})

	// Account removal revokes every session of the account, and only
	// those.
	mustSession(t, s, clientSession("a-client2", "alice", at(time.Hour)))
	wantErr(t, "DeleteAccount", s.DeleteAccount(ctx, "alice", at(5*time.Minute)), nil)
	same(t, "after account removal", revoked(t, s, at(-time.Hour)),
		[]string{"a-client", "a-peer", "b-old", "a-client2", "a-peer2"})

	// since is inclusive.
	same(t, "since 4m", revoked(t, s, at(4*time.Minute)), []string{"b-old", "a-client2", "a-peer2"})
	same(t, "since 6m", revoked(t, s, at(6*time.Minute)), []string{})

	// Forgetting drops what is older than before, and only that.
	n, err := s.ForgetRevocations(ctx, at(4*time.Minute))
	wantErr(t, "ForgetRevocations", err, nil)
	if n != 2 {
		t.Fatalf("ForgetRevocations = %d, want 2", n)
	}
	same(t, "after forgetting", revoked(t, s, at(-time.Hour)), []string{"b-old", "a-client2", "a-peer2"})
	if n, err := s.ForgetRevocations(ctx, at(4*time.Minute)); err != nil || n != 0 {
		t.Fatalf("ForgetRevocations again = %d, %v; want 0, nil", n, err)
	}
	// Bob's live session was never revoked.
	if _, err := s.GetSession(ctx, "b-peer", at(5*time.Minute)); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
}

func testPeerSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	peer := peerSession("a-peer", "alice", "attic", at(time.Minute))
	mustSession(t, s, peer)
	mustSession(t, s, clientSession("a-client", "alice", at(time.Hour)))

	got, err := s.PeerSession(ctx, "attic", t0)
	wantErr(t, "PeerSession", err, nil)
	same(t, "PeerSession", normSession(got), normSession(peer))
	for _, tc := range []struct {
		name, peer string
		now        time.Time
	}{
		{"unknown name", "basement", t0},
		{"client sessions hold no name", "", t0},
		{"expired", "attic", at(time.Minute)},
		{"not text", "\xff\x00", t0},
	} {
		_, err := s.PeerSession(ctx, tc.peer, tc.now)
		wantErr(t, "PeerSession "+tc.name, err, store.ErrNotFound)
	}
	wantErr(t, "DeleteSession", s.DeleteSession(ctx, "a-peer", t0), nil)
	_, err = s.PeerSession(ctx, "attic", t0)
	wantErr(t, "PeerSession after logout", err, store.ErrNotFound)
}
