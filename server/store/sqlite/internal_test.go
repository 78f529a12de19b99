package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/migration"
	"github.com/peerhub/peerhub/server/store/trigram"
)

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "x.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	last := ms[len(ms)-1].Version
	if v != last || v == 0 {
		t.Fatalf("user_version = %d, want %d (the last step)", v, last)
	}
	// A database from a newer program is refused, not downgraded.
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", last+1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

// TestQueryPlans pins the plans the design relies on: search walks the
// trigram index or the sha256 index in id order without sorting, listings
// walk indexes in output order.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the parallel subtests
	cases := []struct {
		name, query string
		want        []string // substrings of the plan
	}{
		{"search by name", sqlSearchFTS, []string{"SCAN x VIRTUAL TABLE INDEX", "SEARCH g USING INDEX files_sha256"}},
		{"search by hash", sqlSearchSHA, []string{"SEARCH f USING INDEX files_sha256 (sha256=? AND rowid>?)"}},
		{"search by hash prefix", sqlSearchPrefix, []string{"SEARCH f USING INDEX files_sha256 (sha256>? AND sha256<?)"}},
		{"search scan", sqlSearchScan, []string{"SEARCH f USING INTEGER PRIMARY KEY (rowid>?)"}},
		{"sources", fmt.Sprintf(searchWrap, sqlSearchFTS), []string{"SCAN x VIRTUAL TABLE INDEX", "SEARCH f USING INDEX files_sha256 (sha256=?)", "SEARCH s USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"list peers", sqlListPeers, []string{"USING INDEX sessions_peer_name"}},
		{"list files", sqlListFilesAll, []string{"SEARCH s USING INDEX sessions_peer_name", "SEARCH f USING INDEX sqlite_autoindex_files_1"}},
		{"list files of a peer", sqlListFilesPeer, []string{"SEARCH f USING INDEX sqlite_autoindex_files_1 (session_seq=? AND name>?)"}},
		{"heartbeats", sqlTouch(8), []string{"SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)"}},
		{"delete names", sqlDeleteFiles, []string{"SEARCH files USING COVERING INDEX sqlite_autoindex_files_1 (session_seq=? AND name=?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := make([]any, 3*8)
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+c.query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			all := strings.Join(plan, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("plan lacks %q:\n%s", w, all)
				}
			}
			// The sources of a page (searchWrap) and the few rows of
			// a hash prefix are sorted; nothing else may be.
			if c.name != "sources" && c.name != "search by hash prefix" && strings.Contains(all, "TEMP B-TREE") {
				t.Errorf("plan sorts:\n%s", all)
			}
			if strings.Contains(all, "SCAN f") || strings.Contains(all, "SCAN files") || strings.Contains(all, "SCAN sessions") {
				t.Errorf("plan scans a table:\n%s", all)
			}
		})
	}
}

func TestTrigramMatch(t *testing.T) {
	t.Parallel()
	sample := &trigram.Sample{Names: 1000, Files: 1_000_000, Counts: map[string]int32{
		"abc": 900, "bcd": 900, "cde": 900, "def": 10, "efg": 900, "fgh": 900, "ghi": 900,
	}}
	cases := []struct {
		name   string
		sample *trigram.Sample
		query  string
		want   []string // terms that must be used
		terms  int      // how many terms, 0 for any
	}{
		{"three characters", sample, "abc", []string{`"abc"`}, 1},
		{"rarest first", sample, "abcdefghi", []string{`"def"`}, 0},
		{"unknown trigram is rare", sample, "abcxyz", []string{`"xyz"`}, 0},
		{"quotes are escaped", sample, `a"b`, []string{`"a""b"`}, 1},
		{"without a sample, spread terms", nil, "abcdefghijklmnop", nil, trigram.MaxTerms},
		{"empty sample", &trigram.Sample{}, "abcdefghijklmnop", nil, trigram.MaxTerms},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := match(c.sample, c.query)
			for _, w := range c.want {
				if !strings.Contains(m, w) {
					t.Errorf("match(%q) = %s, lacks %s", c.query, m, w)
				}
			}
			terms := strings.Split(m, " AND ")
			if c.terms != 0 && len(terms) != c.terms {
				t.Errorf("match(%q) = %s: %d terms, want %d", c.query, m, len(terms), c.terms)
			}
			if len(terms) > trigram.MaxTerms {
				t.Errorf("match(%q) = %s: more than %d terms", c.query, m, trigram.MaxTerms)
			}
			tris, _ := trigram.Split(c.query)
			for _, term := range terms {
				found := false
				for _, tri := range tris {
					found = found || term == ftsPhrase(tri)
				}
				if !found {
					t.Errorf("match(%q) = %s: term %s is not a trigram of the query", c.query, m, term)
				}
			}
		})
	}
}

// openWithUser opens a fresh database, closed when the test ends, holding
// the account "u".
func openWithUser(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateAccount(t.Context(), store.Account{Name: "u", PasswordHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResample(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openWithUser(t)
	if ts := s.sample.Load(); ts == nil || ts.Names != 0 {
		t.Fatalf("empty store sample = %+v", ts)
	}
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	files := make([]store.File, 100)
	for i := range files {
		files[i] = store.File{Name: fmt.Sprintf("Song %03d.mp3", i), SHA256: fmt.Sprint(i)}
	}
	err := s.BulkLoad(ctx, []store.Session{{ID: "s", Username: "u", PeerName: "p", Address: "a", ExpiresAt: t0.Add(time.Hour)}},
		[][]store.File{files})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.resample(ctx); err != nil {
		t.Fatal(err)
	}
	ts := s.sample.Load()
	if ts.Names == 0 || ts.Files != 100 || ts.Counts["mp3"] != int32(ts.Names) || ts.Counts["Son"] != 0 {
		t.Fatalf("sample = names %d files %v mp3 %d", ts.Names, ts.Files, ts.Counts["mp3"])
	}
}

// TestTokenOfAnotherQuery checks that a page token only continues the
// listing that issued it.
func TestTokenOfAnotherQuery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openWithUser(t)
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var sessions []store.Session
	var files [][]store.File
	for i := range 3 {
		sessions = append(sessions, store.Session{ID: fmt.Sprint("s", i), Username: "u", PeerName: fmt.Sprint("p", i), Address: "a", ExpiresAt: t0.Add(time.Hour)})
		files = append(files, []store.File{{Name: fmt.Sprintf("song %d.mp3", i), SHA256: fmt.Sprint(i)}, {Name: fmt.Sprintf("b %d", i), SHA256: fmt.Sprint("b", i)}})
	}
	if err := s.BulkLoad(ctx, sessions, files); err != nil {
		t.Fatal(err)
	}
	_, searchTok, err := s.Search(ctx, store.SearchQuery{Query: "song", PageSize: 1}, t0)
	if err != nil || searchTok == "" {
		t.Fatalf("Search: %q, %v", searchTok, err)
	}
	_, peersTok, err := s.ListPeers(ctx, store.Page{Size: 1}, t0)
	if err != nil || peersTok == "" {
		t.Fatalf("ListPeers: %q, %v", peersTok, err)
	}
	_, filesTok, err := s.ListFiles(ctx, "p1", store.Page{Size: 1}, t0)
	if err != nil || filesTok == "" {
		t.Fatalf("ListFiles: %q, %v", filesTok, err)
	}
	checks := []struct {
		name string
		call func() error
	}{
		{"search token, other query", func() error {
			_, _, err := s.Search(ctx, store.SearchQuery{Query: "mp3", PageSize: 1, PageToken: searchTok}, t0)
			return err
		}},
		{"search token for peers", func() error { _, _, err := s.ListPeers(ctx, store.Page{Size: 1, Token: searchTok}, t0); return err }},
		{"peers token for files", func() error { _, _, err := s.ListFiles(ctx, "", store.Page{Size: 1, Token: peersTok}, t0); return err }},
		{"files token, other peer", func() error {
			_, _, err := s.ListFiles(ctx, "p2", store.Page{Size: 1, Token: filesTok}, t0)
			return err
		}},
	}
	for _, c := range checks {
		if err := c.call(); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
}

// TestPeerNamesMigration opens a database of schema version 1 holding peer
// sessions: migrating it gives each held name to the session's account, so
// that nobody can take an existing peer's name after the upgrade.
func TestPeerNamesMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "x.db")
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		ms[0].SQL,
		"PRAGMA user_version = 1",
		`INSERT INTO accounts (name, password_hash, created) VALUES ('alice', x'00', 1), ('bob', x'00', 1)`,
		`INSERT INTO sessions (id, username, peer_name, address, created, last_seen, expires_at)
			VALUES ('s1', 'alice', 'den', 'http://a:1', 1, 1, 2), ('s2', 'bob', '', '', 1, 1, 2)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if owner, err := s.PeerNameOwner(ctx, "den"); err != nil || owner != "alice" {
		t.Errorf("owner of den = %q, %v; want alice", owner, err)
	}
	if owner, err := s.PeerNameOwner(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a client session's empty peer name became %q's (%v)", owner, err)
	}
}

// TestSmallIndexIsSampled publishes a few hundred files into a store opened
// empty: the trigram sample taken at open has no names, and one must be
// taken in the background once minResample files are in, or searches of a
// small directory never learn which trigrams are rare.
func TestSmallIndexIsSampled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if ts := s.sample.Load(); ts == nil || ts.Names != 0 {
		t.Fatalf("sample at open of an empty store = %+v, want one with no names", ts)
	}
	now := time.Now()
	if err := s.CreateAccount(ctx, store.Account{Name: "u", PasswordHash: []byte{0}, Created: now}); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{ID: "s", Username: "u", PeerName: "p", Address: "http://127.0.0.1:1", Created: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, 8, now); err != nil {
		t.Fatal(err)
	}
	files := make([]store.File, 300)
	for i := range files {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		hash := hex.EncodeToString(h[:])
		files[i] = store.File{Name: fmt.Sprintf("song-%03d.txt", i), Size: 1, SHA256: hash, PieceSize: 1 << 20, PieceRoot: hash}
	}
	if _, err := s.ReplaceFiles(ctx, "s", files, store.FileLimits{Peer: 1000, Account: 1000}, now); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 0, "a sample of the published names", func() error {
		if ts := s.sample.Load(); ts.Names == 0 {
			return errors.New("the sample has no names yet")
		}
		return nil
	})
}
