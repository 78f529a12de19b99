package index

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestRewriteKeepingTimesAfterRestart checks that a file rewritten in
// place with its size and modification time kept, while the peer was
// stopped, is hashed again at the next start: the hash cache must not
// vouch for it.
func TestRewriteKeepingTimesAfterRestart(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	oldData, newData := testutil.RandBytes(pieces.Size+100, 1), testutil.RandBytes(pieces.Size+100, 2)
	p := writeOld(t, dir, "f", oldData)
	pastRacyWindow(t, dir)
	o := Options{Dir: dir, StateDir: state}
	ix := open(t, o)
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	ix.Close()

	testutil.RewriteKeepingTimes(t, p, 0, newData)
	ix = open(t, o)
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	e, _ := ix.ByName("f")
	checkEntry(t, e, newData)
	if _, ok := ix.BySHA256(testutil.SHA256Hex(oldData)); ok {
		t.Error("the old content is still indexed")
	}
}

// TestWatchRewriteKeepingTimes checks that a running index sees a file
// rewritten in place with its size and modification time kept.
func TestWatchRewriteKeepingTimes(t *testing.T) {
	t.Parallel()
	oldData, newData := testutil.RandBytes(pieces.Size+100, 1), testutil.RandBytes(pieces.Size+100, 2)
	dir := t.TempDir()
	p := writeOld(t, dir, "f", oldData)
	pastRacyWindow(t, dir)
	ix := open(t, Options{Dir: dir})
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("f"))
	checkEntry(t, w.entry("f"), oldData)

	testutil.RewriteKeepingTimes(t, p, 0, newData)
	want := testutil.SHA256Hex(newData)
	w.waitFor(t, "rewritten file", 5*time.Second, func(m map[string]Entry) bool { return m["f"].SHA256 == want })
	checkEntry(t, w.entry("f"), newData)
}

// TestReindex checks what happens when serving finds a file that no longer
// matches its entry: the entry goes at once, a running Watch reports the
// removal, hashes the file again and reports what it holds now; a stale
// report (another content) changes nothing.
func TestReindex(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(1000, 1)
	dir := t.TempDir()
	writeOld(t, dir, "f", data)
	pastRacyWindow(t, dir)
	ix := open(t, Options{Dir: dir})
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("f"))
	sum := testutil.SHA256Hex(data)
	hashed := ix.Hashed()

	why := errors.New("piece 0 does not match")
	if ix.Reindex("f", testutil.SHA256Hex([]byte("other")), why) {
		t.Fatal("Reindex of another content dropped the entry")
	}
	if !ix.Reindex("f", sum, why) {
		t.Fatal("Reindex did not find the entry")
	}
	if _, ok := ix.BySHA256(sum); ok {
		t.Fatal("entry still served after Reindex")
	}
	w.waitFor(t, "removal", 5*time.Second, hasNot("f"))
	// Key unchanged (as with a disk that returns other bytes): hashed
	// again all the same, not taken from the index or the cache.
	w.waitFor(t, "re-indexed", 5*time.Second, has("f"))
	if got := ix.Hashed() - hashed; got != 1 {
		t.Errorf("hashed %d files, want 1", got)
	}
	checkEntry(t, w.entry("f"), data)
}

// TestWatchWaitsForSlowWriterToClose checks the settle time alone: a
// writer that opens, appends 1 MiB and closes the file every 0.6 s (so no
// writer is open between appends) is published once, complete, with the
// default settle time.
func TestWatchWaitsForSlowWriterToClose(t *testing.T) {
	t.Parallel()
	dir, _, w := watchSeeded(t, Options{Settle: DefaultSettle})
	data := testutil.RandBytes(5*pieces.Size, 3)
	p := filepath.Join(dir, "slow.bin")
	tick := time.NewTicker(600 * time.Millisecond)
	defer tick.Stop()
	for off := 0; off < len(data); off += pieces.Size {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data[off : off+pieces.Size]); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if off+pieces.Size < len(data) {
			<-tick.C
		}
		if got := w.reported("slow.bin"); len(got) != 0 {
			t.Fatalf("published while being written: sizes %v", sizes(got))
		}
	}
	w.waitFor(t, "complete file", 10*time.Second, has("slow.bin"))
	got := w.reported("slow.bin")
	if len(got) != 1 {
		t.Fatalf("reported %d times (sizes %v), want once", len(got), sizes(got))
	}
	checkEntry(t, got[0], data)
}
