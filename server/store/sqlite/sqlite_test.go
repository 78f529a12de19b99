package sqlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlite"
	"github.com/peerhub/peerhub/server/store/storetest"
)

// openTemp opens a fresh database in the test's temporary directory.
func openTemp(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return openPath(tb, filepath.Join(tb.TempDir(), "directory.db"))
}

// openPath opens the database at path or fails the test.
func openPath(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// openWithUser opens a fresh database, closed when the test ends, holding
// the account "u".
func openWithUser(t *testing.T) *sqlite.Store {
	t.Helper()
	s := openTemp(t)
	t.Cleanup(func() { s.Close() })
	if err := s.CreateAccount(t.Context(), store.Account{Name: "u", PasswordHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openTemp(b) })
}

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 89, time.UTC)

func file(name, content string) store.File {
	return store.File{
		Name: name, Size: int64(len(content)), SHA256: fmt.Sprintf("%064x", len(content)),
		PieceSize: 1 << 20, PieceRoot: fmt.Sprintf("%064x", len(content)+1), Modified: t0.Add(-time.Hour),
	}
}

// TestReopen checks that everything survives closing and reopening the file.
func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "directory.db")
	s := openPath(t, path)
	acct := store.Account{Name: "alice", PasswordHash: []byte("$2a$10$hash"), Created: t0}
	keys := []store.SigningKey{
		{ID: "k1", Private: bytes.Repeat([]byte{1}, 64), Created: t0},
		{ID: "k2", Private: bytes.Repeat([]byte{2}, 64), Created: t0.Add(time.Hour)},
	}
	peer := store.Session{ID: "p", Username: "alice", PeerName: "attic", Address: "https://attic:7443",
		Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
	client := store.Session{ID: "c", Username: "alice", Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
	files := []store.File{file("Canción.mp3", "song"), file("notes.txt", "notes!")}

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("CreateAccount", s.CreateAccount(ctx, acct))
	for _, k := range keys {
		must("AddSigningKey", s.AddSigningKey(ctx, k))
	}
	must("CreateSession peer", s.CreateSession(ctx, peer, 1<<20, t0))
	must("CreateSession client", s.CreateSession(ctx, client, 1<<20, t0))
	_, err := s.ReplaceFiles(ctx, "p", files, store.FileLimits{Peer: 10, Account: 1 << 30}, t0)
	must("ReplaceFiles", err)
	peer, err = s.TouchSession(ctx, "p", t0.Add(time.Minute), t0.Add(2*time.Hour))
	must("TouchSession", err)
	must("Close", s.Close())

	s = openPath(t, path)
	defer s.Close()
	now := t0.Add(90 * time.Minute) // past the untouched client's expiry
	a, err := s.GetAccount(ctx, "alice")
	must("GetAccount", err)
	if a.Name != acct.Name || !bytes.Equal(a.PasswordHash, acct.PasswordHash) || !a.Created.Equal(acct.Created) {
		t.Errorf("account = %+v, want %+v", a, acct)
	}
	ks, err := s.SigningKeys(ctx)
	must("SigningKeys", err)
	if len(ks) != 2 || ks[0].ID != "k2" || !bytes.Equal(ks[0].Private, keys[1].Private) || !ks[1].Created.Equal(t0) {
		t.Errorf("keys = %+v", ks)
	}
	got, err := s.GetSession(ctx, "p", now)
	must("GetSession", err)
	if got.PeerName != "attic" || !got.LastSeen.Equal(peer.LastSeen) || !got.ExpiresAt.Equal(peer.ExpiresAt) {
		t.Errorf("session = %+v, want %+v", got, peer)
	}
	if _, err := s.GetSession(ctx, "c", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired client session: %v", err)
	}
	fs, _, err := s.ListFiles(ctx, "", store.Page{Size: 10}, now)
	must("ListFiles", err)
	if len(fs) != 2 || fs[0].File.Name != "Canción.mp3" || !fs[0].File.Modified.Equal(files[0].Modified) {
		t.Errorf("files = %+v", fs)
	}
	rs, _, err := s.Search(ctx, store.SearchQuery{Query: "CANCIÓN", PageSize: 10}, now)
	must("Search", err)
	if len(rs) != 1 || rs[0].Sources[0].Peer != "attic" {
		t.Errorf("search = %+v", rs)
	}
	st, err := s.Stats(ctx, now)
	must("Stats", err)
	if st != (store.Stats{OnlinePeers: 1, IndexedFiles: 2}) {
		t.Errorf("stats = %+v", st)
	}
}

// TestOpenTemp checks that a throwaway database lives in a folder of its own
// under the temporary directory, and that Close deletes the folder.
func TestOpenTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.TempDir; not parallel
	s, err := sqlite.OpenTemp(t.Context())
	if err != nil {
		t.Fatalf("OpenTemp: %v", err)
	}
	if err := s.CreateAccount(t.Context(), store.Account{Name: "alice", Created: t0}); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	dbs, err := filepath.Glob(filepath.Join(tmp, "*", sqlite.TempFile))
	if err != nil || len(dbs) != 1 {
		t.Fatalf("databases under %s: %v, %v; want one", tmp, dbs, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) != 0 {
		t.Fatalf("after Close, %s holds %v (%v); want nothing", tmp, left, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, path string
	}{
		{"empty", ""},
		{"query string", filepath.Join(t.TempDir(), "x.db?mode=ro")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := sqlite.Open(t.Context(), c.path); !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("Open(%q) = %v, want ErrInvalidArgument", c.path, err)
			}
		})
	}
}

// TestNotUTF8 checks that names JSON cannot carry are refused, not altered.
func TestNotUTF8(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openWithUser(t)
	sess := store.Session{ID: "p", Username: "u", PeerName: "p", Address: "https://p", ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, 1<<20, t0); err != nil {
		t.Fatal(err)
	}
	bad := file("bad\xff.txt", "x")
	if _, err := s.ReplaceFiles(ctx, "p", []store.File{bad}, store.FileLimits{Peer: 10, Account: 1 << 30}, t0); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("ReplaceFiles = %v, want ErrInvalidArgument", err)
	}
	if _, err := s.ApplyDelta(ctx, "p", []store.File{bad}, nil, store.FileLimits{Peer: 10, Account: 1 << 30}, t0); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("ApplyDelta added = %v, want ErrInvalidArgument", err)
	}
	if _, err := s.ApplyDelta(ctx, "p", nil, []string{"bad\xff"}, store.FileLimits{Peer: 10, Account: 1 << 30}, t0); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("ApplyDelta removed = %v, want ErrInvalidArgument", err)
	}
}

// TestTouchBatching heartbeats one session from many goroutines at once, so
// that batches hold the same session several times.
func TestTouchBatching(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openWithUser(t)
	for i := range 4 {
		sess := store.Session{ID: fmt.Sprint("s", i), Username: "u", ExpiresAt: t0.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, 1<<20, t0); err != nil {
			t.Fatal(err)
		}
	}
	const goroutines, rounds = 16, 20
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprint("s", (g+r)%4)
				now := t0.Add(time.Duration(r) * time.Second)
				got, err := s.TouchSession(ctx, id, now, t0.Add(2*time.Hour))
				if err != nil {
					t.Errorf("TouchSession(%s): %v", id, err)
					return
				}
				if got.ID != id || !got.ExpiresAt.Equal(t0.Add(2*time.Hour)) {
					t.Errorf("TouchSession(%s) = %+v", id, got)
				}
			}
			if _, err := s.TouchSession(ctx, "missing", t0, t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("TouchSession(missing) = %v, want ErrNotFound", err)
			}
		})
	}
	wg.Wait()
	// Expired at now: refused even inside a batch.
	if _, err := s.TouchSession(ctx, "s0", t0.Add(2*time.Hour), t0.Add(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession at expiry = %v, want ErrNotFound", err)
	}
}

func TestTouchAfterClose(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TouchSession(t.Context(), "x", t0, t0.Add(time.Hour)); err == nil {
		t.Fatal("TouchSession after Close succeeded")
	}
}

func TestBulkLoad(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openWithUser(t)
	var sessions []store.Session
	var files [][]store.File
	for i := range 3 {
		sessions = append(sessions, store.Session{ID: fmt.Sprint("s", i), Username: "u", PeerName: fmt.Sprint("peer", i),
			Address: "https://x", ExpiresAt: t0.Add(time.Hour)})
		files = append(files, []store.File{file(fmt.Sprintf("file %d.txt", i), "shared"), file(fmt.Sprintf("own %d.txt", i), fmt.Sprint("own-", i))})
	}
	if err := s.BulkLoad(ctx, sessions, files); err != nil {
		t.Fatalf("BulkLoad: %v", err)
	}
	st, err := s.Stats(ctx, t0)
	if err != nil || st != (store.Stats{OnlinePeers: 3, IndexedFiles: 6}) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	rs, _, err := s.Search(ctx, store.SearchQuery{Query: "FILE", PageSize: 10}, t0)
	if err != nil || len(rs) != 1 || len(rs[0].Sources) != 3 {
		t.Fatalf("Search = %+v, %v", rs, err)
	}
	// A clash fails the whole batch.
	err = s.BulkLoad(ctx, []store.Session{{ID: "s9", Username: "u", PeerName: "peer0", Address: "https://y", ExpiresAt: t0.Add(time.Hour)}},
		[][]store.File{{file("x", "x")}})
	if err == nil {
		t.Fatal("BulkLoad of a taken peer name succeeded")
	}
	if st, _ := s.Stats(ctx, t0); st.IndexedFiles != 6 {
		t.Fatalf("failed BulkLoad changed the index: %+v", st)
	}
}
