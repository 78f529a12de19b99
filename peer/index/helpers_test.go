package index

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
)

// quiet discards the index's log output in tests.
var quiet = slog.New(slog.DiscardHandler)

// testSettle is the settle time of the tests' indexes unless they set one:
// DefaultSettle is seconds, to let slow writers finish.
const testSettle = 200 * time.Millisecond

// open opens an index on dir for the test and closes it at the end.
func open(t testing.TB, o Options) *Index {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	if o.Settle == 0 {
		o.Settle = testSettle
	}
	ix, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// anHourAgo is the modification time writeOld gives files, so that their
// hashes are trusted from the start (see RacyWindow).
var anHourAgo = time.Now().Add(-time.Hour).Truncate(time.Second)

// writeOld is write for a file last modified an hour ago, as in a folder
// that was shared before.
func writeOld(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := testutil.WriteFile(t, dir, name, data)
	if err := os.Chtimes(p, anHourAgo, anHourAgo); err != nil {
		t.Fatal(err)
	}
	return p
}

// pastRacyWindow waits until every file under dir last changed more than
// RacyWindow ago, so that hashing them now yields records the index trusts
// (a restart or a rename then hashes nothing). Their ctime, unlike the
// modification time writeOld sets, cannot be moved back.
func pastRacyWindow(t testing.TB, dir string) {
	t.Helper()
	var newest int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				newest = max(newest, keyOf(fi).changed())
			}
		}
		return nil
	})
	testutil.Eventually(t, 0, "files older than the racy window", func() error {
		if age := time.Now().UnixNano() - newest; age <= int64(RacyWindow) {
			return fmt.Errorf("newest file changed %v ago", time.Duration(age))
		}
		return nil
	})
}

// checkEntry checks e's hashes against data, computed independently.
func checkEntry(t testing.TB, e Entry, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	if e.Size != int64(len(data)) || e.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: size %d sha256 %s, want %d %x", e.Name, e.Size, e.SHA256, len(data), sum)
	}
	var cat []byte
	var want [][32]byte
	for off := 0; off < len(data); off += pieces.Size {
		p := sha256.Sum256(data[off:min(off+pieces.Size, len(data))])
		want = append(want, p)
		cat = append(cat, p[:]...)
	}
	root := sha256.Sum256(cat)
	if !slices.Equal(e.PieceHashes, want) || e.PieceRoot != hex.EncodeToString(root[:]) {
		t.Errorf("%s: %d piece hashes, root %s, want %d, %x", e.Name, len(e.PieceHashes), e.PieceRoot, len(want), root)
	}
}

// names returns the names of es.
func names(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}
