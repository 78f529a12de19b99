// The suite's tests of sessions: lifecycle, expiry, peer-name ownership and
// client sessions.

package storetest

import (
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
			return s.CreateSession(ctx, clientSession(peer.ID, "alice", at(time.Hour)), t0)
		}, store.ErrAlreadyExists},
		{"unknown account", func() error {
			return s.CreateSession(ctx, clientSession("s-ghost", "ghost", at(time.Hour)), t0)
		}, store.ErrNotFound},
		{"touch", func() error {
			got, err := s.TouchSession(ctx, peer.ID, touched.LastSeen, touched.ExpiresAt)
			if err == nil {
				same(t, "TouchSession", normSession(got), normSession(touched))
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
		{"id reusable after delete", func() error { return s.CreateSession(ctx, client, t0) }, nil},
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

	steps := []struct {
		name string
		now  time.Time
		sess store.Session
		want error
		// after checks the state once the step ran.
		after func(t *testing.T)
	}{
		{"same user re-login replaces session and files", t0, peerSession("a2", "alice", "den", at(time.Minute)), nil, func(t *testing.T) {
			_, err := s.GetSession(ctx, "a1", t0)
			wantErr(t, "old session", err, store.ErrNotFound)
			same(t, "files", len(listFiles(t, s, "", 10, t0)), 0)
			same(t, "search", len(searchAll(t, s, store.SearchQuery{Query: "old"}, 10, t0)), 0)
			same(t, "peers", peerNames(listPeers(t, s, 10, t0)), []string{"den=0"})
			_, err = s.GetSession(ctx, "a-client", t0)
			wantErr(t, "client session untouched", err, nil)
		}},
		{"another user's live session holds the name", t0, peerSession("b1", "bob", "den", at(time.Hour)), store.ErrAlreadyExists, func(t *testing.T) {
			_, err := s.GetSession(ctx, "b1", t0)
			wantErr(t, "refused session", err, store.ErrNotFound)
			_, err = s.GetSession(ctx, "a2", t0)
			wantErr(t, "holder", err, nil)
		}},
		{"same user, other name", t0, peerSession("a3", "alice", "attic", at(time.Hour)), nil, func(t *testing.T) {
			same(t, "peers", peerNames(listPeers(t, s, 10, t0)), []string{"attic=0", "den=0"})
		}},
		{"re-login with a taken id changes nothing", t0, peerSession("a-client", "alice", "den", at(time.Hour)), store.ErrAlreadyExists, func(t *testing.T) {
			_, err := s.GetSession(ctx, "a2", t0)
			wantErr(t, "den holder", err, nil)
		}},
		{"expired holder does not block", at(time.Minute), peerSession("b2", "bob", "den", at(time.Hour)), nil, func(t *testing.T) {
			now := at(time.Minute)
			got, err := s.GetSession(ctx, "b2", now)
			wantErr(t, "new holder", err, nil)
			same(t, "new holder user", got.Username, "bob")
			ps := listPeers(t, s, 10, now)
			same(t, "peers", peerNames(ps), []string{"attic=0", "den=0"})
			same(t, "den owner", ps[1].Session.ID, "b2")
		}},
		{"former holder now refused", at(time.Minute), peerSession("a4", "alice", "den", at(time.Hour)), store.ErrAlreadyExists, nil},
		{"bob re-login keeps alice's attic", at(time.Minute), peerSession("b3", "bob", "den", at(time.Hour)), nil, func(t *testing.T) {
			now := at(time.Minute)
			_, err := s.GetSession(ctx, "b2", now)
			wantErr(t, "replaced", err, store.ErrNotFound)
			_, err = s.GetSession(ctx, "a3", now)
			wantErr(t, "attic", err, nil)
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			wantErr(t, "CreateSession "+st.sess.ID, s.CreateSession(ctx, st.sess, st.now), st.want)
			if st.after != nil {
				st.after(t)
			}
		})
	}
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
