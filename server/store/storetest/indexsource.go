package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// testIndexSource checks PeerSessions and SessionFiles, what an in-memory
// search index reloads from: every peer session held (expired ones until
// reaped, no client session) with its pin, and a files version that moves
// with every publish that succeeds and only then.
func testIndexSource(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "ann")
	mustAccount(t, s, "bob")
	mustSession(t, s, peerSession("a1", "ann", "alpha", at(time.Hour)))
	mustSession(t, s, peerSession("b1", "bob", "beta", at(2*time.Second)))
	mustSession(t, s, clientSession("c1", "ann", at(2*time.Hour)))
	if _, err := s.BindPeerPin(ctx, "alpha", "sha256//alpha-pin", t0); err != nil {
		t.Fatalf("BindPeerPin: %v", err)
	}

	peers := func() map[string]store.IndexedPeer {
		t.Helper()
		list, err := s.PeerSessions(ctx)
		if err != nil {
			t.Fatalf("PeerSessions: %v", err)
		}
		out := make(map[string]store.IndexedPeer)
		for _, p := range list {
			if _, dup := out[p.Session.ID]; dup {
				t.Fatalf("PeerSessions lists %s twice", p.Session.ID)
			}
			out[p.Session.ID] = p
		}
		return out
	}
	files := func(id string) ([]store.IndexedFile, int64) {
		t.Helper()
		fs, v, err := s.SessionFiles(ctx, id)
		if err != nil {
			t.Fatalf("SessionFiles(%s): %v", id, err)
		}
		slices.SortFunc(fs, func(a, b store.IndexedFile) int { return cmp.Compare(a.File.Name, b.File.Name) })
		return fs, v
	}

	ps := peers()
	if len(ps) != 2 || ps["a1"].Session.PeerName != "alpha" || ps["b1"].Session.Username != "bob" {
		t.Fatalf("PeerSessions = %+v, want a1 (alpha) and b1 (beta, bob), no client session", ps)
	}
	if got := ps["a1"].Session; got.Address != peerSession("a1", "ann", "alpha", t0).Address || !got.ExpiresAt.Equal(at(time.Hour)) || !got.LastSeen.Equal(t0) {
		t.Fatalf("PeerSessions a1 = %+v", got)
	}
	if ps["a1"].Pin != "sha256//alpha-pin" || ps["b1"].Pin != "" {
		t.Fatalf("pins %q, %q; want alpha's and none", ps["a1"].Pin, ps["b1"].Pin)
	}
	fs, v0 := files("a1")
	if len(fs) != 0 {
		t.Fatalf("SessionFiles(a1) before a publish = %+v", fs)
	}

	mustReplace(t, s, "a1", file("x.txt", "x"), file("y.txt", "y"))
	fs, v1 := files("a1")
	if v1 == v0 || peers()["a1"].FilesVersion != v1 {
		t.Fatalf("after a publish: version %d (was %d), PeerSessions says %d", v1, v0, peers()["a1"].FilesVersion)
	}
	if len(fs) != 2 || fs[0].File != file("x.txt", "x") || fs[1].File != file("y.txt", "y") || fs[0].ID == 0 || fs[0].ID == fs[1].ID {
		t.Fatalf("SessionFiles(a1) = %+v", fs)
	}
	ids := []int64{fs[0].ID, fs[1].ID}

	// An unchanged entry keeps its id; a failed publish moves nothing.
	if _, err := s.ApplyDelta(ctx, "a1", []store.File{file("z.txt", "z")}, []string{"y.txt"}, bigLimit, t0); err != nil {
		t.Fatalf("ApplyDelta: %v", err)
	}
	fs, v2 := files("a1")
	if v2 == v1 || len(fs) != 2 || fs[0].ID != ids[0] || fs[1].File != file("z.txt", "z") {
		t.Fatalf("after a delta: version %d (was %d), files %+v", v2, v1, fs)
	}
	_, err := s.ReplaceFiles(ctx, "a1", []store.File{file("1", "1"), file("2", "2"), file("3", "3")}, peerLimit(2), t0)
	wantErr(t, "ReplaceFiles over the limit", err, store.ErrLimit)
	if _, v := files("a1"); v != v2 {
		t.Fatalf("a failed publish moved the version %d to %d", v2, v)
	}
	if _, v := files("b1"); v != peers()["b1"].FilesVersion {
		t.Fatalf("b1's versions disagree")
	}

	// Expired but not reaped: still listed, with its files (liveness is
	// the reader's to decide from ExpiresAt). Reaped: gone.
	mustReplace(t, s, "b1", file("b.txt", "b"))
	if _, ok := peers()["b1"]; !ok {
		t.Fatal("PeerSessions left out an unreaped session")
	}
	if _, err := s.ReapExpired(ctx, at(time.Hour/2)); err != nil {
		t.Fatalf("ReapExpired: %v", err)
	}
	if _, ok := peers()["b1"]; ok {
		t.Fatal("PeerSessions lists a reaped session")
	}
	_, _, err = s.SessionFiles(ctx, "b1")
	wantErr(t, "SessionFiles of a reaped session", err, store.ErrNotFound)

	// Ended: gone at once.
	if err := s.DeleteSession(ctx, "a1", t0); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if len(peers()) != 0 {
		t.Fatalf("PeerSessions after the logout = %+v", peers())
	}
	_, _, err = s.SessionFiles(ctx, "a1")
	wantErr(t, "SessionFiles of an ended session", err, store.ErrNotFound)
	_, _, err = s.SessionFiles(ctx, "c1")
	if err != nil {
		// A client session has no files; reading them is not an error.
		t.Fatalf("SessionFiles of a client session: %v", err)
	}
}
