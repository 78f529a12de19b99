// Package storetest owns the conformance suite every store.Store
// implementation must pass (Run) and the shared benchmark (Bench), so that
// sqlite, postgres and any later backend are held to the same contract:
// liveness decided by the "now" argument, peer-name ownership, atomic index
// changes with limits, grouped and stably paged search, ordered listings and
// the documented sentinel errors.
//
// It is imported only by _test.go files; it lives in a non-test file so that
// every implementation's tests can share it.
package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Run runs the conformance suite against fresh stores made by open. open is
// called once per subtest, possibly concurrently (subtests are parallel,
// since a Store must be safe for concurrent use), and must return an empty
// store; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"DeleteAccountCascades", testDeleteAccountCascades},
		{"SigningKeys", testSigningKeys},
		{"Sessions", testSessions},
		{"Expiry", testExpiry},
		{"PeerNames", testPeerNames},
		{"ClientSessions", testClientSessions},
		{"ReplaceFiles", testReplaceFiles},
		{"ApplyDelta", testApplyDelta},
		{"SearchMatching", testSearchMatching},
		{"SearchGrouping", testSearchGrouping},
		{"SearchPaging", testSearchPaging},
		{"ListPeers", testListPeers},
		{"ListFiles", testListFiles},
		{"Stats", testStats},
		{"BadPageTokens", testBadPageTokens},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"carol", "alice", "bob"} {
		mustAccount(t, s, n)
	}
	alice := store.Account{Name: "alice", PasswordHash: []byte("hash:alice"), Created: at(-time.Hour)}

	steps := []struct {
		name string
		op   func() error
		want error
	}{
		{"duplicate create", func() error { return s.CreateAccount(ctx, alice) }, store.ErrAlreadyExists},
		{"get", func() error {
			a, err := s.GetAccount(ctx, "alice")
			if err == nil {
				same(t, "GetAccount", normAccount(a), normAccount(alice))
			}
			return err
		}, nil},
		{"get missing", func() error { _, err := s.GetAccount(ctx, "mallory"); return err }, store.ErrNotFound},
		{"list ordered", func() error {
			as, err := s.ListAccounts(ctx)
			var names []string
			for _, a := range as {
				names = append(names, a.Name)
			}
			same(t, "ListAccounts", names, []string{"alice", "bob", "carol"})
			return err
		}, nil},
		{"delete", func() error { return s.DeleteAccount(ctx, "bob") }, nil},
		{"delete again", func() error { return s.DeleteAccount(ctx, "bob") }, store.ErrNotFound},
		{"get deleted", func() error { _, err := s.GetAccount(ctx, "bob"); return err }, store.ErrNotFound},
		{"delete missing", func() error { return s.DeleteAccount(ctx, "mallory") }, store.ErrNotFound},
		{"recreate deleted", func() error {
			return s.CreateAccount(ctx, store.Account{Name: "bob", PasswordHash: []byte("new"), Created: t0})
		}, nil},
		{"list after changes", func() error {
			as, err := s.ListAccounts(ctx)
			var got []store.Account
			for _, a := range as {
				got = append(got, normAccount(a))
			}
			same(t, "ListAccounts", got, []store.Account{
				normAccount(alice),
				{Name: "bob", PasswordHash: []byte("new"), Created: t0},
				{Name: "carol", PasswordHash: []byte("hash:carol"), Created: at(-time.Hour)},
			})
			return err
		}, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { wantErr(t, st.name, st.op(), st.want) })
	}
}

func testDeleteAccountCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	mustSession(t, s, peerSession("a-peer", "alice", "attic", at(time.Hour)))
	mustSession(t, s, clientSession("a-client", "alice", at(time.Hour)))
	mustSession(t, s, peerSession("b-peer", "bob", "basement", at(time.Hour)))
	mustReplace(t, s, "a-peer", file("shared.txt", "shared"), file("alice-only.txt", "a"))
	mustReplace(t, s, "b-peer", file("shared.txt", "shared"))

	wantErr(t, "DeleteAccount", s.DeleteAccount(ctx, "alice"), nil)
	for _, id := range []string{"a-peer", "a-client"} {
		_, err := s.GetSession(ctx, id, t0)
		wantErr(t, "GetSession "+id, err, store.ErrNotFound)
	}
	same(t, "files", fileKeys(listFiles(t, s, "", 10, t0)), []string{"basement:shared.txt"})
	rs := searchAll(t, s, store.SearchQuery{Query: "txt"}, 10, t0)
	if len(rs) != 1 || len(rs[0].Sources) != 1 || rs[0].Sources[0].Peer != "basement" {
		t.Fatalf("search after delete: %s", show(rs))
	}
	same(t, "stats", mustStats(t, s, t0), store.Stats{OnlinePeers: 1, IndexedFiles: 1})
	// The peer name is free again, for anyone.
	mustSession(t, s, peerSession("b-attic", "bob", "attic", at(time.Hour)))
	// A session of a deleted (or never created) account is refused.
	err := s.CreateSession(ctx, peerSession("a-again", "alice", "loft", at(time.Hour)), t0)
	wantErr(t, "CreateSession for deleted account", err, store.ErrNotFound)
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	ks, err := s.SigningKeys(ctx)
	wantErr(t, "SigningKeys", err, nil)
	if len(ks) != 0 {
		t.Fatalf("empty store has keys: %s", show(ks))
	}
	key := func(id string, created time.Time) store.SigningKey {
		priv := make([]byte, 64)
		for i := range priv {
			priv[i] = byte(i) ^ id[0]
		}
		return store.SigningKey{ID: id, Private: priv, Created: created}
	}
	k1, k2, k3 := key("k1", t0), key("k2", at(time.Hour)), key("k3", at(2*time.Hour))
	for _, k := range []store.SigningKey{k1, k3, k2} {
		wantErr(t, "AddSigningKey "+k.ID, s.AddSigningKey(ctx, k), nil)
	}
	wantErr(t, "duplicate key", s.AddSigningKey(ctx, key("k2", at(3*time.Hour))), store.ErrAlreadyExists)
	ks, err = s.SigningKeys(ctx)
	wantErr(t, "SigningKeys", err, nil)
	for i := range ks {
		ks[i] = normKey(ks[i])
	}
	same(t, "SigningKeys newest first", ks, []store.SigningKey{normKey(k3), normKey(k2), normKey(k1)})
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	peer := peerSession("s-peer", "alice", "attic", at(time.Minute))
	client := clientSession("s-client", "alice", at(time.Minute))
	mustSession(t, s, peer)
	mustSession(t, s, client)

	touched := peer
	touched.LastSeen, touched.ExpiresAt = at(30*time.Second), at(2*time.Minute)

	steps := []struct {
		name string
		op   func() error
		want error
	}{
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
		{"delete", func() error { return s.DeleteSession(ctx, client.ID) }, nil},
		{"get deleted", func() error { _, err := s.GetSession(ctx, client.ID, t0); return err }, store.ErrNotFound},
		{"touch deleted", func() error { _, err := s.TouchSession(ctx, client.ID, t0, at(time.Hour)); return err }, store.ErrNotFound},
		{"delete again", func() error { return s.DeleteSession(ctx, client.ID) }, store.ErrNotFound},
		{"id reusable after delete", func() error { return s.CreateSession(ctx, client, t0) }, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { wantErr(t, st.name, st.op(), st.want) })
	}
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
		wantErr(t, "DeleteSession reaped", s.DeleteSession(ctx, "short"), store.ErrNotFound)
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

func testReplaceFiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustSession(t, s, peerSession("p", "alice", "attic", at(time.Hour)))

	a := file("a.txt", "A")
	b := file("b.txt", "B")
	c := file("dir/c.txt", "C")
	b2 := file("b.txt", "B2")
	d := file("d.txt", "D")

	steps := []struct {
		name  string
		files []store.File
		limit int
		want  error
		count int64
		// state is the listing afterwards, also when the step failed.
		state []store.File
	}{
		{"first snapshot", []store.File{c, a, b}, 10, nil, 3, []store.File{a, b, c}},
		{"second snapshot replaces", []store.File{d, b2}, 10, nil, 2, []store.File{b2, d}},
		{"duplicate names", []store.File{a, file("a.txt", "other")}, 10, store.ErrInvalidArgument, 0, []store.File{b2, d}},
		{"over limit", []store.File{a, b, c}, 2, store.ErrLimit, 0, []store.File{b2, d}},
		{"at limit", []store.File{a, b}, 2, nil, 2, []store.File{a, b}},
		{"empty snapshot", nil, 2, nil, 0, nil},
		{"same snapshot twice", []store.File{a, c}, 2, nil, 2, []store.File{a, c}},
		{"same snapshot twice, again", []store.File{a, c}, 2, nil, 2, []store.File{a, c}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.ReplaceFiles(ctx, "p", st.files, st.limit, t0)
			wantErr(t, "ReplaceFiles", err, st.want)
			if err == nil {
				same(t, "count", n, st.count)
			}
			var got []store.File
			for _, f := range listFiles(t, s, "attic", 2, t0) {
				got = append(got, f.File)
			}
			var want []store.File
			for _, f := range st.state {
				want = append(want, normFile(f))
			}
			same(t, "files", got, want)
			same(t, "stats", mustStats(t, s, t0).IndexedFiles, int64(len(st.state)))
			// The search index follows: every listed content is found
			// by name, nothing else is.
			rs := searchAll(t, s, store.SearchQuery{Query: ".txt"}, 2, t0)
			var wantHashes []string
			for _, f := range st.state {
				wantHashes = append(wantHashes, f.SHA256)
			}
			same(t, "search", sortedCopy(hashes(rs)), sortedCopy(wantHashes))
		})
	}
	_, err := s.ReplaceFiles(ctx, "nope", []store.File{a}, 10, t0)
	wantErr(t, "unknown session", err, store.ErrNotFound)
}

func testApplyDelta(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustSession(t, s, peerSession("p", "alice", "attic", at(time.Hour)))
	a, b, c := file("a.txt", "A"), file("b.txt", "B"), file("c.txt", "C")
	d, e, f := file("d.txt", "D"), file("e.txt", "E"), file("f.txt", "F")
	b2, c2 := file("b.txt", "B2"), file("c.txt", "C2")
	mustReplace(t, s, "p", a, b, c)

	steps := []struct {
		name    string
		added   []store.File
		removed []string
		limit   int
		want    error
		state   []store.File // the listing afterwards, also on failure
	}{
		{"add and remove", []store.File{d}, []string{"a.txt"}, 10, nil, []store.File{b, c, d}},
		{"same delta again", []store.File{d}, []string{"a.txt"}, 10, nil, []store.File{b, c, d}},
		{"absent names ignored", nil, []string{"zzz.txt", "a.txt"}, 10, nil, []store.File{b, c, d}},
		{"replace by name", []store.File{b2}, nil, 10, nil, []store.File{b2, c, d}},
		{"remove then add the same name", []store.File{c2}, []string{"c.txt"}, 10, nil, []store.File{b2, c2, d}},
		{"duplicate added names", []store.File{e, e}, nil, 10, store.ErrInvalidArgument, []store.File{b2, c2, d}},
		{"up to the limit", []store.File{e, f}, []string{"d.txt"}, 4, nil, []store.File{b2, c2, e, f}},
		{"over the limit changes nothing", []store.File{a, d}, []string{"e.txt"}, 4, store.ErrLimit, []store.File{b2, c2, e, f}},
		{"replacing at the limit", []store.File{b, c}, nil, 4, nil, []store.File{b, c, e, f}},
		{"empty delta", nil, nil, 4, nil, []store.File{b, c, e, f}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.ApplyDelta(ctx, "p", st.added, st.removed, st.limit, t0)
			wantErr(t, "ApplyDelta", err, st.want)
			if err == nil {
				same(t, "count", n, int64(len(st.state)))
			}
			var got, want []store.File
			for _, pf := range listFiles(t, s, "attic", 3, t0) {
				got = append(got, pf.File)
			}
			var wantHashes []string
			for _, f := range st.state {
				want = append(want, normFile(f))
				wantHashes = append(wantHashes, f.SHA256)
			}
			same(t, "files", got, want)
			same(t, "search", sortedCopy(hashes(searchAll(t, s, store.SearchQuery{Query: ".txt"}, 3, t0))), sortedCopy(wantHashes))
			ps := listPeers(t, s, 1, t0)
			same(t, "FileCount", ps[0].FileCount, int64(len(st.state)))
		})
	}
	_, err := s.ApplyDelta(ctx, "nope", []store.File{a}, nil, 10, t0)
	wantErr(t, "unknown session", err, store.ErrNotFound)
}

// searchNow is when search tests look: the fixtures' "expired-peer" has
// expired by then, every other peer is live.
var searchNow = at(2 * time.Minute)

// loadPeers creates one account, a live peer session per entry of peers
// (session id "sess-"+peer) with its files, a client session, and an
// "expired-peer" that published a copy of every file plus extra before it
// expired at searchNow. Nothing of the expired peer or client may ever show.
func loadPeers(t *testing.T, s store.Store, peers map[string][]store.File, extra ...store.File) {
	t.Helper()
	mustAccount(t, s, "user")
	mustAccount(t, s, "ghost")
	// The expired peer publishes first, so its copies have the smallest
	// row ids in an implementation that numbers rows: an expired earlier
	// copy must not hide a live later one.
	var all []store.File
	names := map[string]bool{}
	for _, files := range peers {
		for _, f := range files {
			if !names[f.Name] {
				names[f.Name] = true
				all = append(all, f)
			}
		}
	}
	mustSession(t, s, peerSession("sess-expired", "ghost", "expired-peer", at(time.Minute)))
	mustReplace(t, s, "sess-expired", append(all, extra...)...)
	for peer, files := range peers {
		mustSession(t, s, peerSession("sess-"+peer, "user", peer, at(time.Hour)))
		mustReplace(t, s, "sess-"+peer, files...)
	}
	mustSession(t, s, clientSession("sess-client", "user", at(time.Hour)))
}

func testSearchMatching(t *testing.T, s store.Store) {
	f := map[string]store.File{}
	add := func(name, content string) store.File {
		fl := file(name, content)
		f[content] = fl
		return fl
	}
	loadPeers(t, s, map[string][]store.File{
		"alpha": {
			add("Music/Song One.mp3", "s1"), add("Canción.mp3", "cancion"), add("100%_done.txt", "pct"),
			add(`say "hi".txt`, "quote"), add("notes.md", "notes"), add("ÜBER.txt", "uber"),
		},
		"bravo": {
			add("song one (live).MP3", "s1live"), file("music/SONG ONE.mp3", "s1"), add("readme.txt", "readme"),
			add("a_b.txt", "ab"), add("xyz", "xyz"),
		},
		"charlie": {
			add("Photos/IMG_0001.jpg", "img1"), add("photos/img_0002.JPG", "img2"), add("canciones/otra.ogg", "otra"),
		},
	}, file("expired-only.txt", "expired"))

	cases := []struct {
		name, query, sha string
		want             []string // contents, see add
	}{
		{"words", "song one", "", []string{"s1", "s1live"}},
		{"upper query", "SONG ONE", "", []string{"s1", "s1live"}},
		{"word", "song", "", []string{"s1", "s1live"}},
		{"extension any case", ".mp3", "", []string{"s1", "s1live", "cancion"}},
		{"non-ASCII", "canción", "", []string{"cancion"}},
		{"non-ASCII upper", "CANCIÓN", "", []string{"cancion"}},
		{"non-ASCII suffix", "ción", "", []string{"cancion"}},
		{"accents are not folded", "cion", "", []string{"otra"}},
		{"non-ASCII upper name", "über", "", []string{"uber"}},
		{"non-ASCII upper name, upper query", "ÜBER", "", []string{"uber"}},
		{"no folding of Ü to U", "uber", "", nil},
		{"percent and underscore are literal", "%_d", "", []string{"pct"}},
		{"underscore is literal", "a_b", "", []string{"ab"}},
		{"quotes are literal", `"hi"`, "", []string{"quote"}},
		{"parentheses are literal", "(live)", "", []string{"s1live"}},
		{"star is literal", "song*", "", nil},
		{"directory part", "photos/", "", []string{"img1", "img2"}},
		{"mixed case names", "img_000", "", []string{"img1", "img2"}},
		{"whole name", "xyz", "", []string{"xyz"}},
		{"no match", "zzzz", "", nil},
		{"only at an expired peer", "expired", "", nil},
		{"short query", "mp", "", []string{"s1", "s1live", "cancion"}},
		{"one non-ASCII char", "ó", "", []string{"cancion"}},
		{"hash only", "", f["s1"].SHA256, []string{"s1"}},
		{"hash and matching name", "song", f["s1"].SHA256, []string{"s1"}},
		{"hash and other name", "live", f["s1"].SHA256, nil},
		{"hash only at an expired peer", "", hashOf("expired"), nil},
		{"unknown hash", "", hashOf("nothing"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var want []string
			for _, content := range c.want {
				want = append(want, f[content].SHA256)
			}
			for _, size := range []int{1, 100} {
				rs := searchAll(t, s, store.SearchQuery{Query: c.query, SHA256: c.sha}, size, searchNow)
				same(t, fmt.Sprintf("page size %d", size), sortedCopy(hashes(rs)), sortedCopy(want))
				for _, r := range rs {
					for _, src := range r.Sources {
						if src.Peer == "expired-peer" {
							t.Fatalf("expired peer listed: %s", show(r))
						}
					}
				}
			}
		})
	}
}

func testSearchGrouping(t *testing.T, s store.Store) {
	ctx := t.Context()
	x1, x2, x3 := file("Song.mp3", "X"), file("Song.mp3", "X"), file("music/Song.mp3", "X")
	y1, y2, y3 := file("b-copy.flac", "Y"), file("a-orig.flac", "Y"), file("track.flac", "Y")
	loadPeers(t, s, map[string][]store.File{
		"zulu":  {x3},
		"mike":  {y3, x2},
		"alpha": {y1, x1, y2},
	})
	// A heartbeat shows in the sources' LastSeen.
	mikeSeen := at(90 * time.Second)
	if _, err := s.TouchSession(ctx, "sess-mike", mikeSeen, at(time.Hour)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	src := func(peer, name string) store.Source {
		seen := t0
		if peer == "mike" {
			seen = mikeSeen
		}
		return store.Source{Peer: peer, Address: "https://" + peer + ".example:7443", Name: name, LastSeen: seen}
	}
	resultX := store.SearchResult{
		SHA256: x1.SHA256, Size: x1.Size, PieceSize: x1.PieceSize, PieceRoot: x1.PieceRoot,
		Names:   []string{"Song.mp3", "music/Song.mp3"},
		Sources: []store.Source{src("alpha", "Song.mp3"), src("mike", "Song.mp3"), src("zulu", "music/Song.mp3")},
	}
	resultY := store.SearchResult{
		SHA256: y1.SHA256, Size: y1.Size, PieceSize: y1.PieceSize, PieceRoot: y1.PieceRoot,
		Names:   []string{"a-orig.flac", "b-copy.flac", "track.flac"},
		Sources: []store.Source{src("alpha", "a-orig.flac"), src("alpha", "b-copy.flac"), src("mike", "track.flac")},
	}
	cases := []struct {
		name  string
		query store.SearchQuery
		want  []store.SearchResult
	}{
		{"three peers, one result", store.SearchQuery{Query: "song"}, []store.SearchResult{resultX}},
		{"by hash", store.SearchQuery{SHA256: x1.SHA256}, []store.SearchResult{resultX}},
		{"sources include names that did not match", store.SearchQuery{Query: "orig"}, []store.SearchResult{resultY}},
		{"by hash and name", store.SearchQuery{Query: "TRACK", SHA256: y1.SHA256}, []store.SearchResult{resultY}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			same(t, "results", searchAll(t, s, c.query, 10, searchNow), c.want)
		})
	}
	t.Run("both contents", func(t *testing.T) {
		t.Parallel()
		rs := searchAll(t, s, store.SearchQuery{Query: "."}, 10, searchNow)
		slices.SortFunc(rs, func(a, b store.SearchResult) int { return strings.Compare(a.SHA256, b.SHA256) })
		want := []store.SearchResult{resultX, resultY}
		slices.SortFunc(want, func(a, b store.SearchResult) int { return strings.Compare(a.SHA256, b.SHA256) })
		same(t, "results", rs, want)
	})
}

func testSearchPaging(t *testing.T, s store.Store) {
	const contents = 25
	peers := map[string][]store.File{}
	var items []string
	for i := range contents {
		content := fmt.Sprintf("item-%02d", i)
		f := file(fmt.Sprintf("Item %02d.bin", i), content)
		items = append(items, f.SHA256)
		p := fmt.Sprintf("p%d", i%5)
		// Prepend so that insertion order differs from name order.
		peers[p] = append([]store.File{f}, peers[p]...)
		if i%3 == 0 {
			q := fmt.Sprintf("p%d", (i+2)%5)
			peers[q] = append(peers[q], file(fmt.Sprintf("copy of item %02d.bin", i), content))
		}
	}
	all := slices.Clone(items)
	for i := range 6 {
		f := file(fmt.Sprintf("noise-%d.dat", i), fmt.Sprintf("noise-%d", i))
		peers["p1"] = append(peers["p1"], f)
		all = append(all, f.SHA256)
	}
	loadPeers(t, s, peers, file("item-zz.bin", "expired item"))

	cases := []struct {
		name  string
		query store.SearchQuery
		want  []string
	}{
		{"by name", store.SearchQuery{Query: "item"}, items},
		{"any name", store.SearchQuery{}, all},
		{"by hash", store.SearchQuery{SHA256: items[3]}, items[3:4]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// One big page is the reference order; every page size must
			// walk the same results in the same order, each exactly once.
			ref := hashes(searchAll(t, s, c.query, 1000, searchNow))
			same(t, "results", sortedCopy(ref), sortedCopy(c.want))
			for _, size := range []int{1, 2, 7} {
				t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
					t.Parallel()
					got := hashes(searchAll(t, s, c.query, size, searchNow))
					same(t, "order", got, ref)
				})
			}
		})
	}
}

func testListPeers(t *testing.T, s store.Store) {
	loadPeers(t, s, map[string][]store.File{
		"charlie": {file("c1", "c1"), file("c2", "c2")},
		"alpha":   nil,
		"bravo":   {file("b1", "b1")},
		"Zed":     {file("c1", "c1")}, // bytewise order: upper case first
	})
	want := []string{"Zed=1", "alpha=0", "bravo=1", "charlie=2"}
	for _, size := range []int{1, 2, 3, 10} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			t.Parallel()
			ps := listPeers(t, s, size, searchNow)
			same(t, "peers", peerNames(ps), want)
			same(t, "session", ps[1].Session, normSession(peerSession("sess-alpha", "user", "alpha", at(time.Hour))))
		})
	}
}

func testListFiles(t *testing.T, s store.Store) {
	x := file("x", "x")
	loadPeers(t, s, map[string][]store.File{
		"b-peer": {file("z.txt", "z"), file("B.txt", "B"), file("a.txt", "a"), file("a/b.txt", "ab"), file("ä.txt", "ä"), file("a b.txt", "a b")},
		"a-peer": {x},
		"c-peer": nil,
	})
	bFiles := []string{"b-peer:B.txt", "b-peer:a b.txt", "b-peer:a.txt", "b-peer:a/b.txt", "b-peer:z.txt", "b-peer:ä.txt"}
	cases := []struct {
		name, peer string
		want       []string
	}{
		{"all peers", "", append([]string{"a-peer:x"}, bFiles...)},
		{"one peer", "b-peer", bFiles},
		{"peer without files", "c-peer", nil},
		{"unknown peer", "nobody", nil},
		{"expired peer", "expired-peer", nil},
	}
	for _, c := range cases {
		for _, size := range []int{1, 2, 3, 100} {
			t.Run(fmt.Sprintf("%s size %d", c.name, size), func(t *testing.T) {
				t.Parallel()
				fs := listFiles(t, s, c.peer, size, searchNow)
				got := fileKeys(fs)
				if len(got) == 0 {
					got = nil
				}
				same(t, "files", got, c.want)
				if c.peer == "" {
					same(t, "first", fs[0], store.PeerFile{Peer: "a-peer", Address: "https://a-peer.example:7443", File: normFile(x)})
				}
			})
		}
	}
}

func testStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	same(t, "empty", mustStats(t, s, t0), store.Stats{})
	loadPeers(t, s, map[string][]store.File{
		"a": {file("1", "1"), file("2", "2")},
		"b": {file("1", "1")},
		"c": nil,
	})
	same(t, "before expiry", mustStats(t, s, t0), store.Stats{OnlinePeers: 4, IndexedFiles: 5})
	same(t, "after expiry", mustStats(t, s, searchNow), store.Stats{OnlinePeers: 3, IndexedFiles: 3})
	if _, err := s.ApplyDelta(ctx, "sess-c", []store.File{file("3", "3")}, []string{"x"}, 10, searchNow); err != nil {
		t.Fatalf("ApplyDelta: %v", err)
	}
	same(t, "after delta", mustStats(t, s, searchNow), store.Stats{OnlinePeers: 3, IndexedFiles: 4})
	wantErr(t, "DeleteSession", s.DeleteSession(ctx, "sess-a"), nil)
	same(t, "after delete", mustStats(t, s, searchNow), store.Stats{OnlinePeers: 2, IndexedFiles: 2})
	same(t, "all expired", mustStats(t, s, at(time.Hour)), store.Stats{})
}

func testBadPageTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	loadPeers(t, s, map[string][]store.File{"a": {file("one.txt", "1"), file("two.txt", "2")}})
	tokens := []string{
		"garbage",
		"!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"aGVsbG8gd29ybGQ",  // "hello world", unpadded base64
		"aGVsbG8gd29ybGQ=", // padded
		"////////////////////",
	}
	for _, tok := range tokens {
		t.Run(tok, func(t *testing.T) {
			t.Parallel()
			_, _, err := s.Search(ctx, store.SearchQuery{Query: "txt", PageSize: 1, PageToken: tok}, searchNow)
			wantErr(t, "Search", err, store.ErrInvalidArgument)
			_, _, err = s.Search(ctx, store.SearchQuery{SHA256: hashOf("1"), PageSize: 1, PageToken: tok}, searchNow)
			wantErr(t, "Search by hash", err, store.ErrInvalidArgument)
			_, _, err = s.ListPeers(ctx, store.Page{Size: 1, Token: tok}, searchNow)
			wantErr(t, "ListPeers", err, store.ErrInvalidArgument)
			_, _, err = s.ListFiles(ctx, "", store.Page{Size: 1, Token: tok}, searchNow)
			wantErr(t, "ListFiles", err, store.ErrInvalidArgument)
			_, _, err = s.ListFiles(ctx, "a", store.Page{Size: 1, Token: tok}, searchNow)
			wantErr(t, "ListFiles of a peer", err, store.ErrInvalidArgument)
		})
	}
}

// testConcurrent runs heartbeats, publishes, searches and listings at once;
// under -race it checks the store's locking, and that no call fails (a
// sqlite store must not leak SQLITE_BUSY).
func testConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const peers, rounds = 6, 40
	mustAccount(t, s, "user")
	for i := range peers {
		mustSession(t, s, peerSession(fmt.Sprint("p", i), "user", fmt.Sprint("peer", i), at(time.Hour)))
	}
	var wg sync.WaitGroup
	for i := range peers {
		id := fmt.Sprint("p", i)
		wg.Go(func() {
			for r := range rounds {
				now := at(time.Duration(r) * time.Second)
				if _, err := s.TouchSession(ctx, id, now, at(time.Hour)); err != nil {
					t.Errorf("TouchSession: %v", err)
					return
				}
				files := []store.File{file(fmt.Sprintf("round %d.txt", r), fmt.Sprint(r)), file("common.txt", "common")}
				if _, err := s.ReplaceFiles(ctx, id, files, 10, now); err != nil {
					t.Errorf("ReplaceFiles: %v", err)
					return
				}
				if _, err := s.ApplyDelta(ctx, id, []store.File{file("delta.txt", id)}, []string{"common.txt"}, 10, now); err != nil {
					t.Errorf("ApplyDelta: %v", err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range rounds {
				if _, _, err := s.Search(ctx, store.SearchQuery{Query: "txt", PageSize: 5}, t0); err != nil {
					t.Errorf("Search: %v", err)
					return
				}
				if _, _, err := s.ListFiles(ctx, "", store.Page{Size: 5}, t0); err != nil {
					t.Errorf("ListFiles: %v", err)
					return
				}
				if _, _, err := s.ListPeers(ctx, store.Page{Size: 5}, t0); err != nil {
					t.Errorf("ListPeers: %v", err)
					return
				}
				if _, err := s.Stats(ctx, t0); err != nil {
					t.Errorf("Stats: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	same(t, "stats", mustStats(t, s, t0), store.Stats{OnlinePeers: peers, IndexedFiles: 2 * peers})
}
