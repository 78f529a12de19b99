// The suite's tests of sessions: lifecycle, expiry, peer-name ownership and
// client sessions.

package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	peer := peerSession("s-peer", "alice", "attic", at(time.Minute))
	client := clientSession("s-client", "alice", at(time.Minute))
	mustSession(t, s, peer)
	mustSession(t, s, client)

	touched := peer
	touched.LastSeen, touched.ExpiresAt = at(30*time.Second), at(2*time.Minute)

	runSteps(t, []step{
		{"get peer", func() error {
			got, err := s.GetSession(ctx, peer.ID, t0)
			if err == nil {
				same(t, "GetSession", normSession(got), normSession(peer))
				if !got.IsPeer() {
					t.Fatalf("peer session is not a peer")
				}
			}
			return err
		}, nil},
		{"get client", func() error {
			got, err := s.GetSession(ctx, client.ID, t0)
			if err == nil {
				same(t, "GetSession", normSession(got), normSession(client))
				if got.IsPeer() {
					t.Fatalf("client session is a peer")
				}
			}
			return err
		}, nil},
		{"get missing", func() error { _, err := s.GetSession(ctx, "nope", t0); return err }, store.ErrNotFound},
		{"duplicate id", func() error {
			return s.CreateSession(ctx, clientSession(peer.ID, "alice", at(time.Hour)), noLimit, t0)
		}, store.ErrAlreadyExists},
		{"unknown account", func() error {
			return s.CreateSession(ctx, clientSession("s-ghost", "ghost", at(time.Hour)), noLimit, t0)
		}, store.ErrNotFound},
		{"touch", func() error {
			got, err := s.TouchSession(ctx, peer.ID, touched.LastSeen, touched.ExpiresAt)
			if err == nil {
				same(t, "TouchSession", normSession(got), normSession(touched))
			}
			return err
		}, nil},
		{"touch never goes back", func() error {
			// An older heartbeat written late leaves the newer one.
			got, err := s.TouchSession(ctx, peer.ID, touched.LastSeen.Add(-time.Second), touched.ExpiresAt.Add(-30*time.Second))
			if err == nil {
				same(t, "TouchSession older", normSession(got), normSession(touched))
			}
			return err
		}, nil},
		{"touch extended the session", func() error {
			// Past the original expiry, before the new one.
			got, err := s.GetSession(ctx, peer.ID, at(90*time.Second))
			if err == nil {
				same(t, "GetSession after touch", normSession(got), normSession(touched))
			}
			return err
		}, nil},
		{"touch missing", func() error { _, err := s.TouchSession(ctx, "nope", t0, at(time.Hour)); return err }, store.ErrNotFound},
		{"delete", func() error { return s.DeleteSession(ctx, client.ID, t0) }, nil},
		{"get deleted", func() error { _, err := s.GetSession(ctx, client.ID, t0); return err }, store.ErrNotFound},
		{"touch deleted", func() error { _, err := s.TouchSession(ctx, client.ID, t0, at(time.Hour)); return err }, store.ErrNotFound},
		{"delete again", func() error { return s.DeleteSession(ctx, client.ID, t0) }, store.ErrNotFound},
		{"id reusable after delete", func() error { return s.CreateSession(ctx, client, noLimit, t0) }, nil},
	})
}

func testExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	short := peerSession("short", "alice", "attic", at(time.Minute))
	long := peerSession("long", "bob", "basement", at(time.Hour))
	mustSession(t, s, short)
	mustSession(t, s, long)
	mustSession(t, s, clientSession("client", "alice", at(time.Minute)))
	mustReplace(t, s, "short", file("x/short-song.mp3", "short"), file("both.mp3", "both"))
	mustReplace(t, s, "long", file("y/long-song.mp3", "long"), file("both.mp3", "both"))

	type view struct {
		getShort, getClient error
		files               []string
		peers               []string
		stats               store.Stats
		searchSources       []string // sources of "both.mp3"
		searchShort         int      // results for "short"
	}
	alive := view{
		files:         []string{"attic:both.mp3", "attic:x/short-song.mp3", "basement:both.mp3", "basement:y/long-song.mp3"},
		peers:         []string{"attic=2", "basement=2"},
		stats:         store.Stats{OnlinePeers: 2, IndexedFiles: 4},
		searchSources: []string{"attic", "basement"},
		searchShort:   1,
	}
	expired := view{
		getShort: store.ErrNotFound, getClient: store.ErrNotFound,
		files:         []string{"basement:both.mp3", "basement:y/long-song.mp3"},
		peers:         []string{"basement=2"},
		stats:         store.Stats{OnlinePeers: 1, IndexedFiles: 2},
		searchSources: []string{"basement"},
	}
	check := func(t *testing.T, now time.Time, want view) {
		t.Helper()
		_, err := s.GetSession(ctx, "short", now)
		wantErr(t, "GetSession short", err, want.getShort)
		_, err = s.GetSession(ctx, "client", now)
		wantErr(t, "GetSession client", err, want.getClient)
		_, err = s.GetSession(ctx, "long", now)
		wantErr(t, "GetSession long", err, nil)
		same(t, "ListFiles", fileKeys(listFiles(t, s, "", 3, now)), want.files)
		if want.getShort != nil {
			same(t, "ListFiles attic", len(listFiles(t, s, "attic", 3, now)), 0)
		}
		same(t, "ListPeers", peerNames(listPeers(t, s, 1, now)), want.peers)
		same(t, "Stats", mustStats(t, s, now), want.stats)
		rs := searchAll(t, s, store.SearchQuery{Query: "both.mp3"}, 5, now)
		var peers []string
		for _, r := range rs {
			for _, src := range r.Sources {
				peers = append(peers, src.Peer)
			}
		}
		same(t, "sources of both.mp3", peers, want.searchSources)
		same(t, "results for short", len(searchAll(t, s, store.SearchQuery{Query: "short"}, 5, now)), want.searchShort)
		same(t, "results for short's hash", len(searchAll(t, s, store.SearchQuery{SHA256: hashOf("short")}, 5, now)), want.searchShort)
	}

	// Before any reap, expiry is decided by now alone, in both directions.
	cases := []struct {
		name string
		now  time.Time
		want view
	}{
		{"before expiry", at(59 * time.Second), alive},
		{"at expiry", at(time.Minute), expired},
		{"after expiry", at(2 * time.Minute), expired},
		{"earlier again", t0, alive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.now, c.want) })
	}

	t.Run("expired session cannot be revived or changed", func(t *testing.T) {
		now := at(time.Minute)
		_, err := s.TouchSession(ctx, "short", now, at(time.Hour))
		wantErr(t, "TouchSession at expiry", err, store.ErrNotFound)
		_, err = s.ReplaceFiles(ctx, "short", nil, bigLimit, now)
		wantErr(t, "ReplaceFiles at expiry", err, store.ErrNotFound)
		_, err = s.ApplyDelta(ctx, "short", nil, []string{"both.mp3"}, bigLimit, now)
		wantErr(t, "ApplyDelta at expiry", err, store.ErrNotFound)
		// Nothing changed: seen from before the expiry, all is as it was.
		check(t, t0, alive)
		got, err := s.GetSession(ctx, "short", t0)
		wantErr(t, "GetSession", err, nil)
		same(t, "expiry unchanged", normSession(got), normSession(short))
	})

	t.Run("reap", func(t *testing.T) {
		n, err := s.ReapExpired(ctx, at(time.Minute))
		wantErr(t, "ReapExpired", err, nil)
		same(t, "reaped", n, 2)
		// Gone for good: even an earlier now does not see them.
		want := expired
		check(t, t0, want)
		n, err = s.ReapExpired(ctx, at(time.Minute))
		wantErr(t, "ReapExpired again", err, nil)
		same(t, "reaped again", n, 0)
		wantErr(t, "DeleteSession reaped", s.DeleteSession(ctx, "short", t0), store.ErrNotFound)
		got, err := s.GetSession(ctx, "long", at(time.Minute))
		wantErr(t, "GetSession long", err, nil)
		same(t, "long session", normSession(got), normSession(long))
	})
}

func testPeerNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	mustSession(t, s, peerSession("a1", "alice", "den", at(time.Minute)))
	mustReplace(t, s, "a1", file("old.txt", "old"))
	mustSession(t, s, clientSession("a-client", "alice", at(time.Hour)))
	later := at(time.Minute) // a1's successors expire here
	owner := func(t *testing.T, name, want string) {
		t.Helper()
		got, err := s.PeerNameOwner(ctx, name)
		if want == "" {
			wantErr(t, "PeerNameOwner "+name, err, store.ErrNotFound)
			return
		}
		wantErr(t, "PeerNameOwner "+name, err, nil)
		same(t, "owner of "+name, got, want)
	}
	login := func(sess store.Session, now time.Time) func() error {
		return func() error { return s.CreateSession(ctx, sess, noLimit, now) }
	}

	steps := []struct {
		name string
		op   func() error
		want error
		// after checks the state once the step ran.
		after func(t *testing.T)
	}{
		{"first login claimed the name", func() error { return nil }, nil, func(t *testing.T) {
			owner(t, "den", "alice")
			owner(t, "attic", "")
		}},
		{"same user re-login replaces session and files", login(peerSession("a2", "alice", "den", later), t0), nil, func(t *testing.T) {
			_, err := s.GetSession(ctx, "a1", t0)
			wantErr(t, "old session", err, store.ErrNotFound)
			same(t, "files", len(listFiles(t, s, "", 10, t0)), 0)
			same(t, "search", len(searchAll(t, s, store.SearchQuery{Query: "old"}, 10, t0)), 0)
			same(t, "peers", peerNames(listPeers(t, s, 10, t0)), []string{"den=0"})
			_, err = s.GetSession(ctx, "a-client", t0)
			wantErr(t, "client session untouched", err, nil)
		}},
		{"another user cannot take an online peer's name", login(peerSession("b1", "bob", "den", at(time.Hour)), t0), store.ErrAlreadyExists, func(t *testing.T) {
			_, err := s.GetSession(ctx, "b1", t0)
			wantErr(t, "refused session", err, store.ErrNotFound)
			_, err = s.GetSession(ctx, "a2", t0)
			wantErr(t, "holder", err, nil)
		}},
		{"same user, other name", login(peerSession("a3", "alice", "attic", at(time.Hour)), t0), nil, func(t *testing.T) {
			same(t, "peers", peerNames(listPeers(t, s, 10, t0)), []string{"attic=0", "den=0"})
			owner(t, "attic", "alice")
		}},
		{"re-login with a taken id changes nothing", login(peerSession("a-client", "alice", "den", at(time.Hour)), t0), store.ErrAlreadyExists, func(t *testing.T) {
			_, err := s.GetSession(ctx, "a2", t0)
			wantErr(t, "den holder", err, nil)
		}},
		{"another user cannot take an offline peer's name", login(peerSession("b2", "bob", "den", at(time.Hour)), later), store.ErrAlreadyExists, func(t *testing.T) {
			owner(t, "den", "alice")
			same(t, "peers", peerNames(listPeers(t, s, 10, later)), []string{"attic=0"})
		}},
		{"not even after the reaper ran", func() error {
			if _, err := s.ReapExpired(ctx, later); err != nil {
				return err
			}
			return login(peerSession("b2", "bob", "den", at(time.Hour)), later)()
		}, store.ErrAlreadyExists, func(t *testing.T) { owner(t, "den", "alice") }},
		{"the owner comes back", login(peerSession("a4", "alice", "den", at(time.Hour)), later), nil, func(t *testing.T) {
			same(t, "peers", peerNames(listPeers(t, s, 10, later)), []string{"attic=0", "den=0"})
		}},
		{"a client session claims no name", login(clientSession("b-client", "bob", at(time.Hour)), later), nil, func(t *testing.T) {
			owner(t, "bob", "")
		}},
		{"release while the peer is online", func() error { return s.ReleasePeerName(ctx, "den", "alice", false, later) }, store.ErrInUse, func(t *testing.T) {
			owner(t, "den", "alice")
			_, err := s.GetSession(ctx, "a4", later)
			wantErr(t, "den holder", err, nil)
		}},
		{"release by another account", func() error { return s.ReleasePeerName(ctx, "den", "bob", true, later) }, store.ErrNotFound, func(t *testing.T) {
			owner(t, "den", "alice")
		}},
		{"release of a name nobody owns", func() error { return s.ReleasePeerName(ctx, "cellar", "", true, later) }, store.ErrNotFound, nil},
		{"forced release ends the session", func() error { return s.ReleasePeerName(ctx, "den", "", true, later) }, nil, func(t *testing.T) {
			owner(t, "den", "")
			_, err := s.GetSession(ctx, "a4", later)
			wantErr(t, "released name's session", err, store.ErrNotFound)
			if !slices.Contains(revoked(t, s, later), "a4") {
				t.Error("the session ended by a forced release is not revoked")
			}
			same(t, "peers", peerNames(listPeers(t, s, 10, later)), []string{"attic=0"})
			owner(t, "attic", "alice")
		}},
		{"a released name goes to the next login", login(peerSession("b3", "bob", "den", at(time.Hour)), later), nil, func(t *testing.T) {
			owner(t, "den", "bob")
		}},
		{"the former owner is refused", login(peerSession("a5", "alice", "den", at(time.Hour)), later), store.ErrAlreadyExists, nil},
		{"bob re-login keeps alice's attic", login(peerSession("b4", "bob", "den", at(time.Hour)), later), nil, func(t *testing.T) {
			_, err := s.GetSession(ctx, "b3", later)
			wantErr(t, "replaced", err, store.ErrNotFound)
			_, err = s.GetSession(ctx, "a3", later)
			wantErr(t, "attic", err, nil)
		}},
		{"the owner releases an offline name", func() error {
			if err := s.DeleteSession(ctx, "b4", t0); err != nil {
				return err
			}
			return s.ReleasePeerName(ctx, "den", "bob", false, later)
		}, nil, func(t *testing.T) { owner(t, "den", "") }},
		{"alice claims it again", login(peerSession("a6", "alice", "den", at(time.Hour)), later), nil, func(t *testing.T) {
			owner(t, "den", "alice")
		}},
		{"a name released with its expired holder", func() error {
			// The holder expired but is not reaped: the release drops it
			// with its files, as a login taking the name over would.
			mustAccount(t, s, "carol")
			if err := s.CreateSession(ctx, peerSession("c1", "carol", "shed", at(2*time.Minute)), noLimit, later); err != nil {
				return err
			}
			if _, err := s.ReplaceFiles(ctx, "c1", []store.File{file("shed.txt", "shed")}, bigLimit, later); err != nil {
				return err
			}
			return s.ReleasePeerName(ctx, "shed", "carol", false, at(3*time.Minute))
		}, nil, func(t *testing.T) {
			owner(t, "shed", "")
			_, err := s.GetSession(ctx, "c1", later)
			wantErr(t, "expired holder", err, store.ErrNotFound)
			same(t, "files of shed", len(listFiles(t, s, "shed", 10, later)), 0)
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			wantErr(t, st.name, st.op(), st.want)
			if st.after != nil {
				st.after(t)
			}
		})
	}
}

func testSessionLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	const limit = 3
	login := func(sess store.Session, now time.Time) func() error {
		return func() error { return s.CreateSession(ctx, sess, limit, now) }
	}
	runSteps(t, []step{
		{"first", login(peerSession("p1", "alice", "den", at(time.Minute)), t0), nil},
		{"second", login(clientSession("c1", "alice", at(time.Hour)), t0), nil},
		{"third", login(clientSession("c2", "alice", at(time.Hour)), t0), nil},
		{"fourth is over the limit", login(clientSession("c3", "alice", at(time.Hour)), t0), store.ErrLimit},
		{"refused session not stored", func() error { _, err := s.GetSession(ctx, "c3", t0); return err }, store.ErrNotFound},
		{"a peer over the limit claims no name", login(peerSession("p2", "alice", "attic", at(time.Hour)), t0), store.ErrLimit},
		{"refused peer's name unclaimed", func() error { _, err := s.PeerNameOwner(ctx, "attic"); return err }, store.ErrNotFound},
		{"a peer replacing itself at the limit", login(peerSession("p1b", "alice", "den", at(time.Minute)), t0), nil},
		{"the replaced session ended", func() error { _, err := s.GetSession(ctx, "p1", t0); return err }, store.ErrNotFound},
		{"other accounts have their own count", login(clientSession("b1", "bob", at(time.Hour)), t0), nil},
		{"expired sessions do not count", login(clientSession("c4", "alice", at(time.Hour)), at(time.Minute)), nil},
		{"deleted sessions do not count", func() error {
			if err := s.DeleteSession(ctx, "c1", t0); err != nil {
				return err
			}
			return login(clientSession("c5", "alice", at(time.Hour)), at(time.Minute))()
		}, nil},
		{"full again", login(clientSession("c6", "alice", at(time.Hour)), at(time.Minute)), store.ErrLimit},
	})
}

func testAccountFiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	mustSession(t, s, peerSession("a1", "alice", "den", at(time.Minute)))
	mustSession(t, s, peerSession("a2", "alice", "attic", at(time.Hour)))
	mustSession(t, s, peerSession("b1", "bob", "basement", at(time.Hour)))
	limits := store.FileLimits{Peer: 10, Account: 5}
	fs := func(prefix string, n int) []store.File {
		out := make([]store.File, n)
		for i := range out {
			out[i] = file(fmt.Sprintf("%s-%d.txt", prefix, i), fmt.Sprint(prefix, i))
		}
		return out
	}
	replace := func(id string, files []store.File, l store.FileLimits, now time.Time) func() error {
		return func() error { _, err := s.ReplaceFiles(ctx, id, files, l, now); return err }
	}
	delta := func(id string, added []store.File, removed []string, now time.Time) func() error {
		return func() error { _, err := s.ApplyDelta(ctx, id, added, removed, limits, now); return err }
	}
	count := func(now time.Time, want ...string) func() error {
		return func() error {
			same(t, "peers", peerNames(listPeers(t, s, 10, now)), want)
			return nil
		}
	}
	runSteps(t, []step{
		{"den takes 3", replace("a1", fs("d", 3), limits, t0), nil},
		{"attic cannot take 3 more", replace("a2", fs("a", 3), limits, t0), store.ErrAccountFiles},
		{"the refusal is a limit", replace("a2", fs("a", 3), limits, t0), store.ErrLimit},
		{"nothing changed", count(t0, "attic=0", "basement=0", "den=3"), nil},
		{"attic takes 2", replace("a2", fs("a", 2), limits, t0), nil},
		{"a delta adding one more", delta("a2", fs("x", 1), nil, t0), store.ErrAccountFiles},
		{"a delta replacing one", delta("a2", fs("x", 1), []string{"a-0.txt"}, t0), nil},
		{"a delta re-publishing one", delta("a2", fs("x", 1), nil, t0), nil},
		{"other accounts have their own count", replace("b1", fs("b", 5), limits, t0), nil},
		{"still unchanged", count(t0, "attic=2", "basement=5", "den=3"), nil},
		{"an expired peer's files do not count", replace("a2", fs("a", 5), limits, at(time.Minute)), nil},
		{"a lower limit", replace("a2", fs("a", 6), store.FileLimits{Peer: 10, Account: 4}, at(time.Minute)), store.ErrAccountFiles},
		{"over a lower limit, shrinking passes", replace("a2", fs("a", 4), store.FileLimits{Peer: 10, Account: 3}, at(time.Minute)), nil},
		{"and the per-peer limit still holds", replace("b1", fs("b", 6), store.FileLimits{Peer: 5, Account: noLimit}, t0), store.ErrLimit},
		{"final", count(at(time.Minute), "attic=4", "basement=5"), nil},
	})
}

func testClientSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustSession(t, s, clientSession("c1", "alice", at(time.Hour)))
	mustSession(t, s, clientSession("c2", "alice", at(time.Hour)))
	mustSession(t, s, peerSession("p1", "alice", "attic", at(time.Hour)))
	mustReplace(t, s, "p1", file("song.mp3", "song"))

	_, err := s.ReplaceFiles(ctx, "c1", []store.File{file("song.mp3", "song")}, bigLimit, t0)
	wantErr(t, "ReplaceFiles on a client session", err, store.ErrNotFound)
	_, err = s.ApplyDelta(ctx, "c1", []store.File{file("song.mp3", "song")}, nil, bigLimit, t0)
	wantErr(t, "ApplyDelta on a client session", err, store.ErrNotFound)

	same(t, "peers", peerNames(listPeers(t, s, 10, t0)), []string{"attic=1"})
	same(t, "files", fileKeys(listFiles(t, s, "", 10, t0)), []string{"attic:song.mp3"})
	same(t, "stats", mustStats(t, s, t0), store.Stats{OnlinePeers: 1, IndexedFiles: 1})
	rs := searchAll(t, s, store.SearchQuery{Query: "song"}, 10, t0)
	if len(rs) != 1 || len(rs[0].Sources) != 1 || rs[0].Sources[0].Peer != "attic" {
		t.Fatalf("search: %s", show(rs))
	}
	// Client sessions live and heartbeat like peers.
	_, err = s.TouchSession(ctx, "c2", at(time.Minute), at(2*time.Hour))
	wantErr(t, "TouchSession client", err, nil)
}
