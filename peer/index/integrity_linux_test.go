package index

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestWatchHeldOpenForWriting checks that a file some process holds open
// for writing is not published, however long it stays unchanged, and is
// published once closed.
func TestWatchHeldOpenForWriting(t *testing.T) {
	t.Parallel()
	dir, ix, w := watchSeeded(t, Options{})
	data := testutil.RandBytes(pieces.Size+5, 4)
	f, err := os.Create(filepath.Join(dir, "held.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	// Markers written later settle later: once the last one is reported,
	// the held file has been quiet for several settle times.
	for i := range 3 {
		name := "marker" + string(rune('0'+i))
		testutil.WriteFile(t, dir, name, []byte(name))
		w.waitFor(t, name, 5*time.Second, has(name))
	}
	if got := w.reported("held.bin"); len(got) != 0 {
		t.Fatalf("published while open for writing: sizes %v", sizes(got))
	}
	if _, ok := ix.ByName("held.bin"); ok {
		t.Fatal("indexed while open for writing")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "closed file", 5*time.Second, has("held.bin"))
	checkEntry(t, w.entry("held.bin"), data)
}

// TestWatchGrowingFileHeldOpen checks the slow writer: a file that
// grows by 1 MiB every 0.6 s through one open descriptor is not published
// until it is closed, even with a settle time shorter than its pauses, and
// then once, complete.
func TestWatchGrowingFileHeldOpen(t *testing.T) {
	t.Parallel()
	dir, _, w := watchSeeded(t, Options{Settle: 200 * time.Millisecond})
	data := testutil.RandBytes(5*pieces.Size, 5)
	f, err := os.Create(filepath.Join(dir, "growing.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tick := time.NewTicker(600 * time.Millisecond)
	defer tick.Stop()
	for off := 0; off < len(data); off += pieces.Size {
		if _, err := f.Write(data[off : off+pieces.Size]); err != nil {
			t.Fatal(err)
		}
		<-tick.C
		if got := w.reported("growing.bin"); len(got) != 0 {
			t.Fatalf("published while being written: sizes %v", sizes(got))
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "complete file", 5*time.Second, has("growing.bin"))
	got := w.reported("growing.bin")
	if len(got) != 1 {
		t.Fatalf("reported %d times (sizes %v), want once", len(got), sizes(got))
	}
	checkEntry(t, got[0], data)
}

// TestScanSkipsFilesOpenForWriting checks Scan (a peer's start): a file
// open for writing is left out until it is closed.
func TestScanSkipsFilesOpenForWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "open.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("half"))
	writeOld(t, dir, "done.bin", []byte("done"))
	ix := open(t, Options{Dir: dir})
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := names(ix.Snapshot()); len(got) != 1 || got[0] != "done.bin" {
		t.Fatalf("indexed %q, want [done.bin]", got)
	}
	f.Close()
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := ix.ByName("open.bin"); !ok {
		t.Fatal("not indexed once closed")
	}
}
