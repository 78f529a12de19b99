package directory_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/postgres"
	"github.com/peerhub/peerhub/server/store/postgres/pgtest"
	"github.com/peerhub/peerhub/server/store/sqlite"
)

// The directory remembers sessions it read as live (SessionRecheck), so
// that a call does not read the store. These tests attack that memory: a
// token whose session ended must be refused at once on the directory that
// ended it, and within SessionRecheck on another replica of the same store.

// peerLogin logs user in as peer name.
func peerLogin(t *testing.T, d *directory.Directory, user, name string) directory.Grant {
	t.Helper()
	g, err := d.Login(t.Context(), directory.Credentials{Username: user, Password: "pw", AdvertiseAddress: "http://127.0.0.1:1", PeerName: name})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// mustAuth authenticates raw twice (the second time from memory, if the
// directory remembers).
func mustAuth(t *testing.T, d *directory.Directory, raw string) {
	t.Helper()
	for range 2 {
		if _, err := d.Authenticate(t.Context(), raw); err != nil {
			t.Fatalf("Authenticate = %v", err)
		}
	}
}

// refused checks that raw is refused as unauthenticated, and that its
// heartbeat fails (Heartbeat checks the session itself, after
// AuthenticateHeartbeat checked only the token).
func refused(t *testing.T, d *directory.Directory, raw, what string) {
	t.Helper()
	if c, err := d.AuthenticateHeartbeat(t.Context(), raw); err == nil {
		if _, err := d.Heartbeat(t.Context(), c, time.Time{}); !errors.Is(err, directory.ErrUnauthenticated) {
			t.Errorf("%s: Heartbeat = %v, want ErrUnauthenticated", what, err)
		}
	} else if !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("%s: AuthenticateHeartbeat = %v, want ErrUnauthenticated", what, err)
	}
	if _, err := d.Authenticate(t.Context(), raw); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("%s: Authenticate = %v, want ErrUnauthenticated", what, err)
	}
	if _, err := d.AuthenticateRead(t.Context(), raw); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("%s: AuthenticateRead = %v, want ErrUnauthenticated", what, err)
	}
}

// TestRememberedSessionEndsAtOnce ends a session whose liveness the
// directory remembers, in each way a session ends here, and checks that its
// token is refused at the same instant (the clock does not move).
func TestRememberedSessionEndsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, d *directory.Directory, g directory.Grant)
	}{
		{"logout", func(t *testing.T, d *directory.Directory, g directory.Grant) {
			c, err := d.Authenticate(t.Context(), g.Token)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Logout(t.Context(), c, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"peer replaced by its next login", func(t *testing.T, d *directory.Directory, g directory.Grant) {
			peerLogin(t, d, "ann", "p1")
		}},
		{"account removed", func(t *testing.T, d *directory.Directory, g directory.Grant) {
			if err := d.RemoveUser(t.Context(), "ann"); err != nil {
				t.Fatal(err)
			}
		}},
		{"peer name force-released", func(t *testing.T, d *directory.Directory, g directory.Grant) {
			if _, err := d.ForceReleasePeerName(t.Context(), "p1"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDir(t, newStore(t), newClock())
			addUsers(t, d, "ann")
			g := peerLogin(t, d, "ann", "p1")
			mustAuth(t, d, g.Token)
			tc.end(t, d, g)
			refused(t, d, g.Token, tc.name)
		})
	}
}

// TestRememberedSessionExpires lets a peer session miss its heartbeats: a
// session read as live just before its expiry is refused from its expiry
// on, not SessionRecheck after the read.
func TestRememberedSessionExpires(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) {
		cfg.HeartbeatInterval = 10 * time.Second
		cfg.SessionTTL = 30 * time.Second
	})
	addUsers(t, d, "ann")
	g := peerLogin(t, d, "ann", "p1")
	c.Advance(30*time.Second - directory.SessionRecheck/2)
	mustAuth(t, d, g.Token)
	c.Advance(directory.SessionRecheck / 2)
	refused(t, d, g.Token, "expired session")
}

// pausingStore lets a test hold a GetSession after it has read the store,
// to end the session while the read is on its way back.
type pausingStore struct {
	store.Store
	read, release chan struct{} // nil: no pause
}

func (s *pausingStore) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	got, err := s.Store.GetSession(ctx, id, now)
	if s.read != nil {
		s.read <- struct{}{}
		<-s.release
	}
	return got, err
}

// TestLogoutDuringSessionRead ends a session while a call's read of it (as
// live) is under way: that read must not be remembered, or the ended session
// would be accepted until SessionRecheck passes.
func TestLogoutDuringSessionRead(t *testing.T) {
	t.Parallel()
	st := &pausingStore{Store: newStore(t)}
	d := newDir(t, st, newClock())
	addUsers(t, d, "ann")
	g := peerLogin(t, d, "ann", "p1")
	c, err := d.Authenticate(t.Context(), g.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Logout(t.Context(), c, ""); err != nil {
		t.Fatal(err)
	}
	// A new session, then a read of it held while it logs out.
	g = peerLogin(t, d, "ann", "p1")
	st.read, st.release = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := d.Authenticate(context.Background(), g.Token)
		done <- err
	}()
	<-st.read
	st.read = nil
	c.SessionID = g.SessionID
	if err := d.Logout(t.Context(), c, ""); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Fatalf("the call that read the session before the logout = %v", err)
	}
	refused(t, d, g.Token, "logged out during a read")
}

// TestReplicaHonoursLogout runs two directories (replicas) on one store and
// logs out through A a session that B remembers as live: B must refuse it
// once SessionRecheck has passed since B read it. On SQLite (two stores on
// one file) and, when PEERHUB_TEST_POSTGRES is set, on PostgreSQL.
func TestReplicaHonoursLogout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (store.Store, store.Store)
	}{
		{"sqlite", func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "directory.db")
			return openSQLite(t, path), openSQLite(t, path)
		}},
		{"postgres", func(t *testing.T) (store.Store, store.Store) {
			url := pgtest.NewDatabase(t)
			return openPostgres(t, url), openPostgres(t, url)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stA, stB := tc.open(t)
			c := newClock()
			a := newDir(t, stA, c)
			b := newDir(t, stB, c)
			addUsers(t, a, "ann")
			g := peerLogin(t, a, "ann", "p1")
			mustAuth(t, b, g.Token)
			claims := mustClaims(t, a, g.Token)
			if err := a.Logout(t.Context(), claims, ""); err != nil {
				t.Fatal(err)
			}
			refused(t, a, g.Token, "replica A, which logged out")
			c.Advance(directory.SessionRecheck)
			refused(t, b, g.Token, "replica B, SessionRecheck after the logout through A")
		})
	}
}

// mustClaims authenticates raw and returns its claims.
func mustClaims(t *testing.T, d *directory.Directory, raw string) token.Claims {
	t.Helper()
	c, err := d.Authenticate(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t *testing.T, url string) store.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestVerifiedTokenMemoryAttacks presents, once the live token's
// verification is remembered, tokens that differ from it only where a
// cache keyed by less than the whole token would be fooled: a flipped
// signature bit, a non-canonical encoding of the same token, and the same
// claims (session, id, expiry) signed with another key under the
// directory's key id. Each must be refused; the live token must still pass.
func TestVerifiedTokenMemoryAttacks(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c)
	addUsers(t, d, "ann")
	g := peerLogin(t, d, "ann", "p1")
	mustAuth(t, d, g.Token)
	claims := mustClaims(t, d, g.Token)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := token.NewSigner(d.Info().Keys[0].ID, otherKey, claims.Issuer).Sign(claims, c.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ name, raw string }{
		{"flipped signature bit", testutil.FlipSignatureBit(t, g.Token)},
		{"non-canonical encoding", testutil.NonCanonical(t, g.Token)},
		{"same claims, another key", forged},
	} {
		refused(t, d, bad.raw, bad.name)
	}
	mustAuth(t, d, g.Token)
}
