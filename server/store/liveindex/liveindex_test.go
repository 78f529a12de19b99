package liveindex_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/liveindex"
	"github.com/peerhub/peerhub/server/store/pagetoken"
	"github.com/peerhub/peerhub/server/store/postgres"
	"github.com/peerhub/peerhub/server/store/postgres/pgtest"
	"github.com/peerhub/peerhub/server/store/sqlite"
	"github.com/peerhub/peerhub/server/store/storetest"
)

// backend is one wrapped store implementation.
type backend struct {
	name   string
	tokens pagetoken.Format
	open   func(t *testing.T) store.Store // closed by the caller
}

var backends = []backend{
	{"SQLite", sqlite.PageTokens, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), t.TempDir()+"/directory.db")
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}},
	{"PostgreSQL", postgres.PageTokens, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}},
}

// eachBackend runs fn for each backend as a parallel subtest.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			if b.name == "PostgreSQL" {
				pgtest.URL(t) // skip (or fail, under CI) without a server
			}
			fn(t, b)
		})
	}
}

// TestConformance runs the store suite on the wrapper: its searches, pages
// and page tokens are held to the same contract as the stores'.
func TestConformance(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return liveindex.New(b.open(t), liveindex.Options{Tokens: b.tokens})
		})
	})
}

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 89, time.UTC)

// mustAccount creates account name in s.
func mustAccount(t testing.TB, s store.Store, name string) {
	t.Helper()
	if err := s.CreateAccount(t.Context(), store.Account{Name: name, PasswordHash: []byte("h"), Created: t0}); err != nil {
		t.Fatal(err)
	}
}

// mustPeer logs in peer session id of account user as peer name in s, live
// for an hour after t0.
func mustPeer(t testing.TB, s store.Store, user, id, name string) {
	t.Helper()
	ss := store.Session{ID: id, Username: user, PeerName: name, Address: "https://" + name + ".example", Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(t.Context(), ss, 10, t0); err != nil {
		t.Fatal(err)
	}
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Names and contents the random operations draw from: cased and composed
// letters, multi-byte characters, LIKE and FTS metacharacters, and
// repeated trigrams, so that queries hit several files, several peers per
// content, and descriptors that disagree about one hash.
var (
	nameParts = []string{"song", "Sóng", "SONG", "ÄÖÜ", "äöü", "日本語", "a_b", "50%", `"q"`, "mix", "-05", "000", ".txt", "ΣΑΣ", "σας"}
	contents  = []string{"one", "two", "three", "four"}
)

func randomFile(r *rand.Rand) store.File {
	var name strings.Builder
	for range 1 + r.IntN(3) {
		name.WriteString(nameParts[r.IntN(len(nameParts))])
	}
	c := contents[r.IntN(len(contents))]
	root := hashOf("pieces of " + c)
	if r.IntN(8) == 0 {
		root = hashOf("a lie about " + c) // another descriptor of the same hash
	}
	return store.File{Name: name.String(), Size: int64(len(c)), SHA256: hashOf(c), PieceSize: 1 << 16, PieceRoot: root, Modified: t0}
}

// queries are the searches compared after each step: each name part's
// trigram-long pieces, whole parts, each hash with and without a name,
// a miss, and a hash prefix (which the wrapper passes to the store).
func queries() []store.SearchQuery {
	var qs []store.SearchQuery
	for _, p := range nameParts {
		rs := []rune(p)
		if len(rs) >= 3 {
			qs = append(qs, store.SearchQuery{Query: string(rs[:3])}, store.SearchQuery{Query: p})
		}
	}
	for _, c := range contents {
		qs = append(qs, store.SearchQuery{SHA256: hashOf(c)}, store.SearchQuery{SHA256: hashOf(c), Query: "son"})
	}
	qs = append(qs, store.SearchQuery{Query: "nothing like it"}, store.SearchQuery{SHA256Prefix: hashOf("one")[:8]},
		store.SearchQuery{Query: "songsong"}, store.SearchQuery{Query: "ngs"})
	return qs
}

// searchAll pages through q with page size n, returning every page and
// token, or the first error.
func searchAll(ctx context.Context, s store.Store, q store.SearchQuery, n int, now time.Time) ([][]store.SearchResult, []string, error) {
	var pages [][]store.SearchResult
	var toks []string
	q.PageSize = n
	for range 100 {
		rs, next, err := s.Search(ctx, q, now)
		if err != nil {
			return nil, nil, err
		}
		if len(rs) == 0 {
			rs = nil // the stores differ in how they say "none"
		}
		pages, toks = append(pages, rs), append(toks, next)
		if next == "" {
			return pages, toks, nil
		}
		q.PageToken = next
	}
	return nil, nil, fmt.Errorf("search %+v: more than 100 pages", q)
}

// sameSearches fails unless 12 random queries, and each content's hash,
// give the same pages and
// tokens from got as from want, at a random time in the first two minutes
// (when sessions of a minute expire) and after every session of the test
// has expired.
func sameSearches(t *testing.T, got, want store.Store, r *rand.Rand, step string) {
	t.Helper()
	ctx := t.Context()
	qs := queries()
	r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	qs = qs[:12]
	for _, c := range contents {
		qs = append(qs, store.SearchQuery{SHA256: hashOf(c)}) // every source of the content
	}
	for _, now := range []time.Time{t0.Add(time.Duration(r.IntN(120)) * time.Second), t0.Add(10 * time.Minute)} {
		for _, q := range qs {
			n := 1 + r.IntN(4)
			gp, gt, gerr := searchAll(ctx, got, q, n, now)
			wp, wt, werr := searchAll(ctx, want, q, n, now)
			if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(gp, wp) || !reflect.DeepEqual(gt, wt) {
				t.Fatalf("after %s, search %+v (page size %d) at %s:\nindex: %+v %q %v\nstore: %+v %q %v",
					step, q, n, now.Sub(t0), gp, gt, gerr, wp, wt, werr)
			}
		}
	}
}

// TestSameAsStore applies random logins, publishes, heartbeats, pins,
// logouts and reaps through the wrapper and checks after each that every
// search, paged with random sizes, at several times, answers exactly what
// the wrapped store answers: the copy is never behind its own writes.
func TestSameAsStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		st := b.open(t)
		defer st.Close()
		s := liveindex.New(st, liveindex.Options{Tokens: b.tokens, MaxAge: time.Hour})
		r := rand.New(rand.NewPCG(1, uint64(len(b.name))))
		users := []string{"ann", "bob", "cy"}
		for _, u := range users {
			mustAccount(t, s, u)
		}
		var live []string // session ids that may be live
		seq := 0
		peerName := func(u string) string { return fmt.Sprintf("%s-p%d", u, r.IntN(3)) }
		limits := store.FileLimits{Peer: 1000, Account: 1000}
		steps := 70
		for i := range steps {
			var step string
			switch k := r.IntN(10); {
			case k < 2 || len(live) == 0:
				u := users[r.IntN(len(users))]
				seq++
				id := fmt.Sprintf("s%d", seq)
				ttl := []time.Duration{time.Minute, 5 * time.Minute, time.Hour}[r.IntN(3)]
				ss := store.Session{ID: id, Username: u, PeerName: peerName(u), Address: "https://" + id + ".example",
					Created: t0, LastSeen: t0, ExpiresAt: t0.Add(ttl)}
				if r.IntN(3) == 0 {
					ss.Pin = "sha256//" + id
				}
				err := s.CreateSession(ctx, ss, 100, t0)
				step = fmt.Sprintf("login %s as %s (%v)", id, ss.PeerName, err)
				if err == nil {
					live = append(live, id)
				}
			case k < 5:
				id := live[r.IntN(len(live))]
				files := make([]store.File, r.IntN(8))
				seen := map[string]bool{}
				for j := range files {
					for files[j] = randomFile(r); seen[files[j].Name]; files[j] = randomFile(r) {
					}
					seen[files[j].Name] = true
				}
				_, err := s.ReplaceFiles(ctx, id, files, limits, t0)
				step = fmt.Sprintf("snapshot of %d files by %s (%v)", len(files), id, err)
			case k < 7:
				id := live[r.IntN(len(live))]
				f := randomFile(r)
				_, err := s.ApplyDelta(ctx, id, []store.File{f}, []string{randomFile(r).Name}, limits, t0)
				step = fmt.Sprintf("delta by %s (%v)", id, err)
			case k < 9:
				id := live[r.IntN(len(live))]
				now := t0.Add(time.Duration(r.IntN(60)) * time.Second)
				_, err := s.TouchSession(ctx, id, now, now.Add(time.Duration(1+r.IntN(20))*time.Minute))
				step = fmt.Sprintf("heartbeat of %s (%v)", id, err)
			case k < 10 && r.IntN(2) == 0:
				j := r.IntN(len(live))
				id := live[j]
				live = append(live[:j], live[j+1:]...)
				err := s.DeleteSession(ctx, id, t0)
				step = fmt.Sprintf("logout of %s (%v)", id, err)
			default:
				u := users[r.IntN(len(users))]
				name := peerName(u)
				if r.IntN(2) == 0 {
					_, err := s.BindPeerPin(ctx, name, fmt.Sprintf("sha256//pin-%d", i), t0)
					step = fmt.Sprintf("pin of %s (%v)", name, err)
				} else {
					n, err := s.ReapExpired(ctx, t0.Add(2*time.Minute))
					step = fmt.Sprintf("reap (%d, %v)", n, err)
				}
			}
			sameSearches(t, s, st, r, fmt.Sprintf("step %d: %s", i, step))
		}
	})
}

// TestOtherReplica checks what a replica sees of another's changes on the
// same database: nothing until its copy is MaxAge old, then all of them.
func TestOtherReplica(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		st := b.open(t)
		defer st.Close()
		here := liveindex.New(st, liveindex.Options{Tokens: b.tokens, MaxAge: time.Hour})
		mustAccount(t, here, "ann")
		mustPeer(t, here, "ann", "s1", "p1")
		song := store.File{Name: "song.mp3", Size: 3, SHA256: hashOf("song"), PieceSize: 1 << 16, PieceRoot: hashOf("pieces"), Modified: t0}
		q := store.SearchQuery{Query: "song", PageSize: 10}
		count := func(s store.Store) int {
			t.Helper()
			rs, _, err := s.Search(ctx, q, t0)
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			return len(rs)
		}

		// A replica that never reloads on its own sees only what it did.
		stale := liveindex.New(st, liveindex.Options{Tokens: b.tokens, MaxAge: time.Hour})
		if n := count(stale); n != 0 {
			t.Fatalf("before the publish: %d results", n)
		}
		if _, err := here.ReplaceFiles(ctx, "s1", []store.File{song}, store.FileLimits{Peer: 10, Account: 10}, t0); err != nil {
			t.Fatal(err)
		}
		if n := count(here); n != 1 {
			t.Fatalf("the publishing replica: %d results, want 1 at once", n)
		}
		if n := count(stale); n != 0 {
			t.Fatalf("a replica with an hour-old copy: %d results; its copy is not what this test thinks", n)
		}

		// One with a short MaxAge sees the publish, then the logout, within it.
		other := liveindex.New(st, liveindex.Options{Tokens: b.tokens, MaxAge: 20 * time.Millisecond})
		if n := count(other); n != 1 {
			t.Fatalf("a replica's first search: %d results, want 1", n)
		}
		if err := here.DeleteSession(ctx, "s1", t0); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 0, "another replica drops a logged-out source", func() error {
			if n := count(other); n != 0 {
				return fmt.Errorf("%d results", n)
			}
			return nil
		})
	})
}

// countingStore counts the whole reloads a wrapper makes of it.
type countingStore struct {
	store.Store
	lists atomic.Int64
}

func (c *countingStore) PeerSessions(ctx context.Context) ([]store.IndexedPeer, error) {
	c.lists.Add(1)
	return c.Store.PeerSessions(ctx)
}

// TestPublishReloadsOneSession: a publish made through the wrapper makes
// the next search read that session's files only, not the list of every
// session; a publish of a session the copy does not hold yet (logged in
// through another replica) makes it read the list.
func TestPublishReloadsOneSession(t *testing.T) {
	ctx := t.Context()
	st := backends[0].open(t)
	defer st.Close()
	counted := &countingStore{Store: st}
	s := liveindex.New(counted, liveindex.Options{Tokens: backends[0].tokens, MaxAge: time.Hour})
	mustAccount(t, s, "ann")
	publish := func(id string, n int) {
		t.Helper()
		files := make([]store.File, n)
		for i := range files {
			files[i] = store.File{Name: fmt.Sprintf("%s-file-%d", id, i), Size: 1, SHA256: hashOf(fmt.Sprint(id, i)), PieceSize: 1 << 16, PieceRoot: hashOf("r"), Modified: t0}
		}
		if _, err := s.ReplaceFiles(ctx, id, files, store.FileLimits{Peer: 100, Account: 100}, t0); err != nil {
			t.Fatal(err)
		}
	}
	found := func(query string) int {
		t.Helper()
		rs, _, err := s.Search(ctx, store.SearchQuery{Query: query, PageSize: 100}, t0)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	mustPeer(t, s, "ann", "p1", "p1")
	if n := found("p1-file"); n != 0 {
		t.Fatalf("%d results before a publish", n)
	}
	lists := counted.lists.Load()
	for i := 1; i <= 20; i++ {
		publish("p1", i)
		if n := found("p1-file"); n != i {
			t.Fatalf("publish %d: %d results", i, n)
		}
	}
	if n := counted.lists.Load() - lists; n != 0 {
		t.Errorf("20 publishes read the list of sessions %d times, want 0", n)
	}
	mustPeer(t, st, "ann", "p2", "p2") // straight into the store, as another replica would
	publish("p2", 3)
	if n := found("p2-file"); n != 3 {
		t.Fatalf("a publish of a session logged in elsewhere: %d results, want 3", n)
	}
	if n := counted.lists.Load() - lists; n != 1 {
		t.Errorf("it read the list of sessions %d times, want 1", n)
	}
}

// TestLoad: Load reads the whole copy once, and a search right after
// reads nothing more.
func TestLoad(t *testing.T) {
	ctx := t.Context()
	st := backends[0].open(t)
	defer st.Close()
	mustAccount(t, st, "ann")
	mustPeer(t, st, "ann", "p1", "p1")
	files := []store.File{
		{Name: "a.txt", Size: 1, SHA256: hashOf("a"), PieceSize: 1 << 16, PieceRoot: hashOf("r"), Modified: t0},
		{Name: "b.txt", Size: 1, SHA256: hashOf("b"), PieceSize: 1 << 16, PieceRoot: hashOf("r"), Modified: t0},
	}
	if _, err := st.ReplaceFiles(ctx, "p1", files, store.FileLimits{Peer: 10, Account: 10}, t0); err != nil {
		t.Fatal(err)
	}
	counted := &countingStore{Store: st}
	s := liveindex.New(counted, liveindex.Options{Tokens: backends[0].tokens, MaxAge: time.Hour})
	n, err := s.Load(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Load = %d, %v; want 2 files", n, err)
	}
	rs, _, err := s.Search(ctx, store.SearchQuery{Query: ".txt", PageSize: 10}, t0)
	if err != nil || len(rs) != 2 {
		t.Fatalf("Search after Load: %d results, %v", len(rs), err)
	}
	if n := counted.lists.Load(); n != 1 {
		t.Errorf("Load and a search read the list of sessions %d times, want 1", n)
	}
}
