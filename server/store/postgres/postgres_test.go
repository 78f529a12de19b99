package postgres_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/migration"
	"github.com/peerhub/peerhub/server/store/postgres"
	"github.com/peerhub/peerhub/server/store/postgres/pgtest"
	"github.com/peerhub/peerhub/server/store/sqlite"
	"github.com/peerhub/peerhub/server/store/storetest"
)

// t0 is the tests' "now", with a nanosecond part.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 89, time.UTC)

// open opens a store on the database at url, closed when the test ends.
func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openFresh opens a store on a new database of its own, for storetest,
// which closes it.
func openFresh(tb testing.TB) store.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), pgtest.NewDatabase(tb))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	pgtest.URL(t) // skip (or fail, under CI) once, not in every subtest
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func BenchmarkStore(b *testing.B) {
	pgtest.URL(b)
	storetest.Bench(b, func(b *testing.B) store.Store { return openFresh(b) })
}

// TestConcurrentOpen starts several replicas at once on a fresh database:
// the advisory lock lets one migrate while the others wait, then find
// nothing to do.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), url)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	want, err := stores[0].SchemaVersion(t.Context())
	if err != nil || want < 1 {
		t.Fatalf("SchemaVersion = %d, %v", want, err)
	}
	steps, err := migration.Load(postgres.MigrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if last := steps[len(steps)-1].Version; want != last {
		t.Fatalf("SchemaVersion = %d, want %d (the last step)", want, last)
	}
	if n := pgtest.QueryInt(t, url, `SELECT count(*) FROM peerhub_schema_migrations`); n != int64(len(steps)) {
		t.Fatalf("peerhub_schema_migrations has %d rows, want %d (one per step)", n, len(steps))
	}
	// Opening an up-to-date database again changes nothing.
	open(t, url)
	if n := pgtest.QueryInt(t, url, `SELECT count(*) FROM peerhub_schema_migrations`); n != int64(len(steps)) {
		t.Fatalf("after a reopen, peerhub_schema_migrations has %d rows, want %d", n, len(steps))
	}
}

// TestOpenRefuses checks what Open will not open, and that its errors never
// carry the password.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	const password = "s3cret-Pa55word"
	newer := pgtest.NewDatabase(t)
	open(t, newer).Close()
	pgtest.Exec(t, newer, `INSERT INTO peerhub_schema_migrations (version, name) VALUES (9999, '9999_future.sql')`)
	ascii := pgtest.NewDatabaseWith(t, `ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'`)

	cases := []struct {
		name, url string
		want      error  // a sentinel, or nil for any error
		mention   string // a word the message must contain
	}{
		{"unparsable URL", "postgres://peerhub:" + password + "@127.0.0.1:notaport/x", store.ErrInvalidArgument, "parse"},
		{"no server", "postgres://peerhub:" + password + "@127.0.0.1:1/x?connect_timeout=5", nil, "connect"},
		{"schema newer than the program", withPassword(t, newer, password), nil, "newer"},
		{"not UTF8", withPassword(t, ascii, password), store.ErrInvalidArgument, "UTF8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.Open(t.Context(), c.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// withPassword returns url with a password added; the test server trusts
// local connections, so any password works.
func withPassword(t *testing.T, url, password string) string {
	t.Helper()
	scheme, rest, ok := strings.Cut(url, "://")
	user, host, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 || strings.Contains(user, ":") {
		t.Skipf("%s has no plain user@host to add a password to", pgtest.EnvURL)
	}
	return scheme + "://" + user + ":" + password + "@" + host
}

// TestReplicasShareState runs two stores on one database, as two directory
// replicas do: what one writes, the other reads at once.
func TestReplicasShareState(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	mustNil(t, "CreateAccount", a.CreateAccount(ctx, store.Account{Name: "alice", PasswordHash: []byte("h"), Created: t0}))
	key := store.SigningKey{ID: "k1", Private: make([]byte, 64), Created: t0}
	mustNil(t, "AddSigningKey", a.AddSigningKey(ctx, key))
	if err := b.AddSigningKey(ctx, key); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("the same key through the other replica: %v, want ErrAlreadyExists", err)
	}

	sess := store.Session{ID: "s1", Username: "alice", PeerName: "attic", Address: "http://attic", Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Minute)}
	mustNil(t, "CreateSession on a", a.CreateSession(ctx, sess, 1<<20, t0))
	file := testFile("shared/song.mp3", "song")
	if _, err := a.ReplaceFiles(ctx, "s1", []store.File{file}, store.FileLimits{Peer: 10, Account: 1 << 30}, t0); err != nil {
		t.Fatalf("ReplaceFiles on a: %v", err)
	}
	steps := []struct {
		name string
		op   func() error
	}{
		{"b sees the session", func() error { _, err := b.GetSession(ctx, "s1", t0); return err }},
		{"b sees the key", func() error {
			ks, err := b.SigningKeys(ctx)
			if err == nil && (len(ks) != 1 || ks[0].ID != "k1") {
				err = fmt.Errorf("keys %v", ks)
			}
			return err
		}},
		{"b finds the file", func() error {
			rs, _, err := b.Search(ctx, store.SearchQuery{Query: "song", PageSize: 10}, t0)
			if err == nil && (len(rs) != 1 || rs[0].SHA256 != file.SHA256) {
				err = fmt.Errorf("results %v", rs)
			}
			return err
		}},
		{"a heartbeat through b extends the session for a", func() error {
			if _, err := b.TouchSession(ctx, "s1", t0.Add(50*time.Second), t0.Add(2*time.Minute)); err != nil {
				return err
			}
			_, err := a.GetSession(ctx, "s1", t0.Add(90*time.Second))
			return err
		}},
		{"a page token of a continues on b", func() error {
			if _, err := a.ApplyDelta(ctx, "s1", []store.File{testFile("shared/song2.mp3", "song2")}, nil, store.FileLimits{Peer: 10, Account: 1 << 30}, t0); err != nil {
				return err
			}
			rs1, next, err := a.Search(ctx, store.SearchQuery{Query: "song", PageSize: 1}, t0)
			if err != nil || next == "" {
				return fmt.Errorf("first page %v, %q, %v", rs1, next, err)
			}
			rs2, last, err := b.Search(ctx, store.SearchQuery{Query: "song", PageSize: 1, PageToken: next}, t0)
			if err == nil && (len(rs2) != 1 || last != "" || rs2[0].SHA256 == rs1[0].SHA256) {
				err = fmt.Errorf("second page %v, %q", rs2, last)
			}
			return err
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { mustNil(t, st.name, st.op()) })
	}
}

// TestPeerNameRace logs in many sessions for one peer name at once, through
// two replicas: of one account, each login replaces the previous one; of
// several accounts, one account wins the name and the others are told it is
// taken (a lost race on the unique index is ErrAlreadyExists, not a
// database error).
func TestPeerNameRace(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		users int
	}{
		{"one account re-logging in", 1},
		{"several accounts", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			replicas := []*postgres.Store{open(t, url), open(t, url)}
			ctx := t.Context()
			for u := range c.users {
				mustNil(t, "CreateAccount", replicas[0].CreateAccount(ctx, store.Account{Name: fmt.Sprint("user", u), Created: t0}))
			}
			const logins = 8
			errs := make([]error, logins)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range logins {
				wg.Go(func() {
					<-start
					s := store.Session{ID: fmt.Sprint("s", i), Username: fmt.Sprint("user", i%c.users), PeerName: "den",
						Address: "http://den", Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
					errs[i] = replicas[i%2].CreateSession(ctx, s, 1<<20, t0)
				})
			}
			close(start)
			wg.Wait()
			winners := map[string]bool{}
			for i, err := range errs {
				switch {
				case err == nil:
					winners[fmt.Sprint("user", i%c.users)] = true
				case c.users == 1 || !errors.Is(err, store.ErrAlreadyExists):
					t.Errorf("login %d: %v", i, err)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("accounts that won the name: %v, want one (errors %v)", winners, errs)
			}
			ps, _, err := replicas[1].ListPeers(ctx, store.Page{Size: 10}, t0)
			if err != nil || len(ps) != 1 || ps[0].Session.PeerName != "den" || !winners[ps[0].Session.Username] {
				t.Fatalf("ListPeers = %v, %v; want the one holder of den, of %v", ps, err, winners)
			}
		})
	}
}

// TestReapInBatches reaps a peer with more files than one reaping
// statement deletes.
func TestReapInBatches(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	ctx := t.Context()
	mustNil(t, "CreateAccount", s.CreateAccount(ctx, store.Account{Name: "alice", Created: t0}))
	const n = 25_000
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		id := fmt.Sprint("s", i)
		mustNil(t, "CreateSession", s.CreateSession(ctx, store.Session{ID: id, Username: "alice", PeerName: id,
			Address: "http://" + id, Created: t0, LastSeen: t0, ExpiresAt: t0.Add(exp)}, 1<<20, t0))
		files := make([]store.File, n/(i*9+1))
		for j := range files {
			files[j] = testFile(fmt.Sprintf("dir/file %05d.bin", j), fmt.Sprint(id, j))
		}
		if _, err := s.ReplaceFiles(ctx, id, files, store.FileLimits{Peer: n, Account: 1 << 30}, t0); err != nil {
			t.Fatalf("ReplaceFiles: %v", err)
		}
	}
	got, err := s.ReapExpired(ctx, t0.Add(time.Minute))
	if err != nil || got != 1 {
		t.Fatalf("ReapExpired = %d, %v; want 1", got, err)
	}
	if left := pgtest.QueryInt(t, url, `SELECT count(*) FROM files`); left != n/10 {
		t.Fatalf("%d files left, want %d (the live peer's)", left, n/10)
	}
	st, err := s.Stats(ctx, t0)
	if err != nil || st != (store.Stats{OnlinePeers: 1, IndexedFiles: n / 10}) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
}

// TestSearchLikeSQLite loads an index large enough for broad queries to
// take the walk in id order (more matches than the trigram probe returns)
// into this store and a sqlite store (another engine, other plans), and
// checks that every query pages through exactly the same results in both.
func TestSearchLikeSQLite(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	pg := open(t, url)
	lite, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { lite.Close() })
	stores := []store.Store{pg, lite}
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(7, 8))
	words := []string{"song", "Song", "SONG", "night", "river", "canción", "über", "100%", "a_b", `back\slash`}
	exts := []string{".mp3", ".flac", ".txt"}
	popular := make([]store.File, 40)
	for i := range popular {
		popular[i] = testFile(fmt.Sprintf("popular %d %s%s", i, words[i%len(words)], exts[i%3]), fmt.Sprint("popular", i))
	}
	load := func(id, user string, exp time.Duration, files []store.File) {
		for _, s := range stores {
			mustNil(t, "CreateSession", s.CreateSession(ctx, store.Session{ID: id, Username: user, PeerName: "peer-" + id,
				Address: "http://" + id, Created: t0, LastSeen: t0, ExpiresAt: t0.Add(exp)}, 1<<20, t0))
			if _, err := s.ReplaceFiles(ctx, id, files, store.FileLimits{Peer: 10_000, Account: 1 << 30}, t0); err != nil {
				t.Fatalf("ReplaceFiles: %v", err)
			}
		}
	}
	for _, s := range stores {
		for _, u := range []string{"user", "ghost"} {
			mustNil(t, "CreateAccount", s.CreateAccount(ctx, store.Account{Name: u, Created: t0}))
		}
	}
	// An expired peer publishes first, so that its copies have the
	// smallest ids: they must hide nothing.
	load("expired", "ghost", time.Minute, popular)
	for p := range 30 {
		var files []store.File
		for i := range 150 {
			if rng.IntN(8) == 0 {
				f := popular[rng.IntN(len(popular))]
				f.Name = fmt.Sprintf("copy %d of %s", i, f.Name)
				files = append(files, f)
				continue
			}
			name := fmt.Sprintf("d%d/%s %s %d%s", rng.IntN(5), words[rng.IntN(len(words))], words[rng.IntN(len(words))], i, exts[rng.IntN(3)])
			files = append(files, testFile(name, fmt.Sprint(p, "/", i)))
		}
		load(fmt.Sprint("p", p), "user", time.Hour, files)
	}
	now := t0.Add(2 * time.Minute)
	// Page sizes are large enough to keep the test quick and small
	// enough for many pages.
	queries := []store.SearchQuery{
		{Query: "song", PageSize: 60},    // about half the index: the walk
		{Query: "SoNg 1", PageSize: 7},   // fewer
		{Query: ".mp3", PageSize: 60},    // a third
		{Query: "canción", PageSize: 60}, // non-ASCII
		{Query: "ÜBER", PageSize: 60},
		{Query: "100%", PageSize: 60}, {Query: "a_b", PageSize: 60}, {Query: `k\s`, PageSize: 60}, // LIKE's special characters
		{Query: "popular 1", PageSize: 3},
		{Query: "river night 12", PageSize: 2}, // narrow
		{Query: "zzz", PageSize: 10},           // nothing
		{Query: "so", PageSize: 60},            // too short for trigrams
		{PageSize: 100},                        // everything
		{SHA256: popular[3].SHA256, PageSize: 1},
		{SHA256: popular[3].SHA256, Query: "copy", PageSize: 1},
	}
	if n := pgtest.QueryInt(t, url, `SELECT count(*) FROM files WHERE name_lower LIKE '%song%'`); n <= postgres.ProbeCap {
		t.Fatalf("%d files match song, want more than %d to test the walk", n, postgres.ProbeCap)
	}
	for _, q := range queries {
		t.Run(fmt.Sprintf("%q %.8s size %d", q.Query, q.SHA256, q.PageSize), func(t *testing.T) {
			t.Parallel()
			want := searchAll(t, lite, q, now)
			got := searchAll(t, pg, q, now)
			if len(got) != len(want) {
				t.Fatalf("%d results, want %d", len(got), len(want))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("results differ from the sqlite store's:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// searchAll pages through a search and returns the results sorted by hash,
// failing on an error or on a content listed twice.
func searchAll(t *testing.T, s store.Store, q store.SearchQuery, now time.Time) []store.SearchResult {
	t.Helper()
	var all []store.SearchResult
	seen := map[string]bool{}
	for page := 0; ; page++ {
		rs, next, err := s.Search(t.Context(), q, now)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(rs) > q.PageSize || (next != "" && len(rs) == 0) {
			t.Fatalf("page %d: %d results of %d, next %q", page, len(rs), q.PageSize, next)
		}
		for _, r := range rs {
			if seen[r.SHA256] {
				t.Fatalf("page %d: %s listed again", page, r.SHA256)
			}
			seen[r.SHA256] = true
			for i := range r.Sources {
				r.Sources[i].LastSeen = r.Sources[i].LastSeen.Round(0).UTC()
			}
			all = append(all, r)
		}
		if next == "" {
			break
		}
		q.PageToken = next
	}
	slices.SortFunc(all, func(a, b store.SearchResult) int { return strings.Compare(a.SHA256, b.SHA256) })
	return all
}

// testFile returns an entry whose content is identified by content.
func testFile(name, content string) store.File {
	h := sha256.Sum256([]byte(content))
	p := sha256.Sum256(h[:])
	return store.File{Name: name, Size: int64(len(content)), SHA256: hex.EncodeToString(h[:]),
		PieceSize: 1 << 18, PieceRoot: hex.EncodeToString(p[:]), Modified: t0.Add(-time.Hour)}
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
