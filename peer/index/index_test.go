package index

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
)

func TestScanTree(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	files := map[string][]byte{
		"a.txt":                   testutil.RandBytes(100, 1),
		"empty":                   {},
		"dir/b.bin":               testutil.RandBytes(pieces.Size+1, 2),
		"dir/sub/c.txt":           testutil.RandBytes(10, 3),
		"dir/sub/deeper/d":        testutil.RandBytes(pieces.Size, 4),
		".hidden":                 testutil.RandBytes(10, 5),
		".hdir/x":                 testutil.RandBytes(10, 6),
		"dir/.h2":                 testutil.RandBytes(10, 7),
		"x.peerhub-partial":       testutil.RandBytes(10, 8),
		"x.peerhub-state":         testutil.RandBytes(10, 9),
		"dir/y.peerhub-partial":   testutil.RandBytes(10, 10),
		".peerhub/incoming/up":    testutil.RandBytes(10, 11),
		".peerhub/other":          testutil.RandBytes(10, 12),
		"con.txt":                 testutil.RandBytes(10, 13),
		"dir/nul":                 testutil.RandBytes(10, 14),
		"bad\x01name":             testutil.RandBytes(10, 15),
		"bad\xffutf8":             testutil.RandBytes(10, 16),
		"dir/COM1.log":            testutil.RandBytes(10, 17),
		"dir/console.txt":         testutil.RandBytes(10, 18),
		"dir/sub/my.peerhub-part": testutil.RandBytes(10, 19),
	}
	for name, data := range files {
		testutil.WriteFile(t, dir, name, data)
	}
	secret := testutil.WriteFile(t, outside, "secret", []byte("outside"))
	for link, target := range map[string]string{
		"link-etc":      "/etc",
		"link-passwd":   "/etc/passwd",
		"link-outside":  secret,
		"link-inside":   "a.txt",
		"dir/link-up":   "../dir",
		"link-relative": "../" + filepath.Base(outside) + "/secret",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	visible := []string{"a.txt", "dir/b.bin", "dir/console.txt", "dir/sub/c.txt", "dir/sub/deeper/d", "dir/sub/my.peerhub-part", "empty"}
	tests := []struct {
		name   string
		hidden bool
		want   []string
	}{
		{"default", false, visible},
		{"ShareHidden", true, append([]string{".hdir/x", ".hidden", "dir/.h2"}, visible...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := open(t, Options{Dir: dir, StateDir: t.TempDir(), ShareHidden: tt.hidden, Workers: 3})
			c, err := ix.Scan(t.Context())
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			want := slices.Sorted(slices.Values(tt.want))
			if got := names(c.Added); !slices.Equal(got, want) {
				t.Fatalf("Scan added %q, want %q", got, want)
			}
			if len(c.Removed) != 0 {
				t.Errorf("Scan removed %q, want none", c.Removed)
			}
			snap := ix.Snapshot()
			if got := names(snap); !slices.Equal(got, want) {
				t.Fatalf("Snapshot = %q, want %q", got, want)
			}
			for _, e := range snap {
				checkEntry(t, e, files[e.Name])
				if got, ok := ix.ByName(e.Name); !ok || !got.equal(&e) {
					t.Errorf("ByName(%q) = %v, %v", e.Name, got, ok)
				}
			}
			if got := ix.Hashed(); got != int64(len(want)) {
				t.Errorf("Hashed = %d, want %d", got, len(want))
			}
			for _, e := range snap {
				if strings.HasPrefix(e.Name, "link") || strings.Contains(e.Name, "/link") {
					t.Errorf("symbolic link %q indexed", e.Name)
				}
			}
		})
	}
}

func TestStateDirInsideFolderSkipped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteFile(t, dir, "a", testutil.RandBytes(10, 1))
	ix := open(t, Options{Dir: dir, StateDir: filepath.Join(dir, "state")})
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", cacheName)); err != nil {
		t.Fatalf("cache not written: %v", err)
	}
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := names(ix.Snapshot()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Snapshot = %q, want [a]", got)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
	}{
		{"no dir", Options{}},
		{"missing dir", Options{Dir: filepath.Join(dir, "nope")}},
		{"state dir is the folder", Options{Dir: dir, StateDir: dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.o.Logger = quiet
			if ix, err := Open(t.Context(), tt.o); err == nil {
				ix.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

func TestBySHA256(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	same := testutil.RandBytes(3*pieces.Size+5, 1)
	testutil.WriteFile(t, dir, "a", same)
	testutil.WriteFile(t, dir, "b/a-copy", same)
	testutil.WriteFile(t, dir, "c", testutil.RandBytes(10, 2))
	ix := open(t, Options{Dir: dir})
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(same)
	tests := []struct {
		name string
		sum  string
		want []string
	}{
		{"duplicates", hex.EncodeToString(sum[:]), []string{"a", "b/a-copy"}},
		{"upper case", strings.ToUpper(hex.EncodeToString(sum[:])), []string{"a", "b/a-copy"}},
		{"unique", hexOf(testutil.RandBytes(10, 2)), []string{"c"}},
		{"unknown", hexOf([]byte("nothing")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es, ok := ix.BySHA256(tt.sum)
			if got := names(es); !slices.Equal(got, tt.want) || ok != (len(tt.want) > 0) {
				t.Fatalf("BySHA256 = %q, %v, want %q", got, ok, tt.want)
			}
			for _, e := range es {
				checkEntry(t, e, map[string][]byte{"a": same, "b/a-copy": same, "c": testutil.RandBytes(10, 2)}[e.Name])
			}
		})
	}
}

func hexOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestRestartHashesOnlyChanges(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	const n = 1000
	for i := range n {
		writeOld(t, dir, fmt.Sprintf("d%02d/f%04d", i%37, i), testutil.RandBytes(64+i%200, uint64(i)))
	}
	o := Options{Dir: dir, StateDir: state, Logger: quiet}
	pastRacyWindow(t, dir)

	ix := open(t, o)
	first, err := ix.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Added) != n || ix.Hashed() != n {
		t.Fatalf("first scan: %d added, %d hashed, want %d", len(first.Added), ix.Hashed(), n)
	}
	ix.Close()

	// Restart over the unchanged folder: nothing is hashed.
	ix = open(t, o)
	again, err := ix.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ix.Hashed() != 0 {
		t.Fatalf("restart: %d files hashed, want 0", ix.Hashed())
	}
	if !slices.EqualFunc(again.Added, first.Added, func(a, b Entry) bool { return a.equal(&b) }) {
		t.Fatal("restart: entries differ from the first scan")
	}
	ix.Close()

	// One file modified (same size, new content): exactly one hash, on the
	// next restart and within a running index alike.
	p := writeOld(t, dir, "d05/f0005", testutil.RandBytes(64+5, 1005))
	if err := os.Chtimes(p, anHourAgo.Add(1), anHourAgo.Add(1)); err != nil {
		t.Fatal(err)
	}
	pastRacyWindow(t, dir)
	ix = open(t, o)
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ix.Hashed() != 1 {
		t.Fatalf("restart after one change: %d files hashed, want 1", ix.Hashed())
	}
	e, _ := ix.ByName("d05/f0005")
	checkEntry(t, e, testutil.RandBytes(64+5, 1005))

	p = writeOld(t, dir, "d06/f0006", testutil.RandBytes(64+6, 1006))
	if err := os.Chtimes(p, anHourAgo.Add(2), anHourAgo.Add(2)); err != nil {
		t.Fatal(err)
	}
	c, err := ix.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ix.Hashed() != 2 || !slices.Equal(names(c.Added), []string{"d06/f0006"}) || len(c.Removed) != 0 {
		t.Fatalf("rescan after one change: hashed %d, change %q %q", ix.Hashed(), names(c.Added), c.Removed)
	}
}

func TestScanChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeOld(t, dir, "keep", testutil.RandBytes(10, 1))
	writeOld(t, dir, "gone", testutil.RandBytes(10, 2))
	writeOld(t, dir, "old-name", testutil.RandBytes(pieces.Size+7, 3))
	pastRacyWindow(t, dir)
	ix := open(t, Options{Dir: dir})
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "gone"))
	if err := os.Rename(filepath.Join(dir, "old-name"), filepath.Join(dir, "sub-new-name")); err != nil {
		t.Fatal(err)
	}
	c, err := ix.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(c.Added); !slices.Equal(got, []string{"sub-new-name"}) {
		t.Errorf("added %q, want [sub-new-name]", got)
	}
	if !slices.Equal(c.Removed, []string{"gone", "old-name"}) {
		t.Errorf("removed %q, want [gone old-name]", c.Removed)
	}
	if ix.Hashed() != 3 {
		t.Errorf("hashed %d files, want 3 (a rename is not hashed again)", ix.Hashed())
	}
	checkEntry(t, c.Added[0], testutil.RandBytes(pieces.Size+7, 3))
}

func TestRacilyCleanFileHashedAgain(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	// Written just now: the cached hash is not trusted while a same-size
	// rewrite could keep the modification time.
	p := testutil.WriteFile(t, dir, "f", testutil.RandBytes(100, 1))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Dir: dir, StateDir: state}
	ix := open(t, o)
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	// Rewrite in place, same size, same modification time.
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(testutil.RandBytes(100, 2))
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	ix = open(t, o)
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	e, _ := ix.ByName("f")
	checkEntry(t, e, testutil.RandBytes(100, 2))
}

func TestCorruptCacheIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		corrupt func([]byte) []byte
	}{
		{"garbage", func([]byte) []byte { return []byte("not a cache at all") }},
		{"empty", func([]byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }},
		{"magic only", func([]byte) []byte { return []byte(cacheMagic) }},
		{"bad payload, good checksum", func([]byte) []byte {
			payload := []byte("\x07garbage gob")
			s := sha256.Sum256(payload)
			return append(append([]byte(cacheMagic), payload...), s[:]...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, state := t.TempDir(), t.TempDir()
			for i := range 5 {
				writeOld(t, dir, fmt.Sprintf("f%d", i), testutil.RandBytes(1000, uint64(i)))
			}
			o := Options{Dir: dir, StateDir: state}
			pastRacyWindow(t, dir)
			ix := open(t, o)
			if _, err := ix.Scan(t.Context()); err != nil {
				t.Fatal(err)
			}
			ix.Close()
			path := filepath.Join(state, cacheName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.corrupt(b), 0o600); err != nil {
				t.Fatal(err)
			}

			ix = open(t, o)
			if _, err := ix.Scan(t.Context()); err != nil {
				t.Fatalf("Scan with a corrupt cache: %v", err)
			}
			if ix.Hashed() != 5 || len(ix.Snapshot()) != 5 {
				t.Fatalf("corrupt cache: hashed %d, %d entries, want 5, 5", ix.Hashed(), len(ix.Snapshot()))
			}
			for _, e := range ix.Snapshot() {
				var i int
				fmt.Sscanf(e.Name, "f%d", &i)
				checkEntry(t, e, testutil.RandBytes(1000, uint64(i)))
			}
			ix.Close()

			// The cache was rewritten whole.
			ix = open(t, o)
			if _, err := ix.Scan(t.Context()); err != nil {
				t.Fatal(err)
			}
			if ix.Hashed() != 0 {
				t.Fatalf("after rewrite: hashed %d, want 0", ix.Hashed())
			}
		})
	}
}
