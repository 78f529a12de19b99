package index

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
)

// watched runs Watch for a test and mirrors the index from its changes.
type watched struct {
	mu    sync.Mutex
	state map[string]Entry
	log   []Change
	stop  func()
}

// watch starts ix.Watch; it stops at the end of the test or on w.stop.
func watch(t *testing.T, ix *Index) *watched {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan Change)
	w := &watched{state: map[string]Entry{}}
	done := make(chan error, 1)
	go func() { done <- ix.Watch(ctx, ch) }()
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case c := <-ch:
				w.mu.Lock()
				w.log = append(w.log, c)
				for _, n := range c.Removed {
					delete(w.state, n)
				}
				for _, e := range c.Added {
					w.state[e.Name] = e
				}
				w.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Watch: %v", err)
			}
			<-collected
		})
	}
	t.Cleanup(w.stop)
	return w
}

// watchSeeded opens an index on a new folder holding one old file, "seed",
// and watches it (see watch) until the initial scan reported the seed. o.Dir
// is set to the folder.
func watchSeeded(t *testing.T, o Options) (dir string, ix *Index, w *watched) {
	t.Helper()
	dir = t.TempDir()
	writeOld(t, dir, "seed", testutil.RandBytes(10, 1))
	o.Dir = dir
	ix = open(t, o)
	w = watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("seed"))
	return dir, ix, w
}

// waitFor waits until cond holds on the mirrored index, failing the test
// after timeout; it returns how long it waited.
func (w *watched) waitFor(t *testing.T, what string, timeout time.Duration, cond func(map[string]Entry) bool) time.Duration {
	t.Helper()
	start := time.Now()
	testutil.Eventually(t, timeout, what, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !cond(w.state) {
			return fmt.Errorf("index %q", slices.Sorted(maps.Keys(w.state)))
		}
		return nil
	})
	return time.Since(start)
}

func has(names ...string) func(map[string]Entry) bool {
	return func(m map[string]Entry) bool {
		for _, n := range names {
			if _, ok := m[n]; !ok {
				return false
			}
		}
		return true
	}
}

func hasNot(names ...string) func(map[string]Entry) bool {
	return func(m map[string]Entry) bool {
		for _, n := range names {
			if _, ok := m[n]; ok {
				return false
			}
		}
		return true
	}
}

// reported returns every entry for name in the changes so far.
func (w *watched) reported(name string) []Entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Entry
	for _, c := range w.log {
		for _, e := range c.Added {
			if e.Name == name {
				out = append(out, e)
			}
		}
	}
	return out
}

func (w *watched) entry(name string) Entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[name]
}

// within is how soon after a file is complete Watch must report it.
const within = time.Second

func TestWatchNewFile(t *testing.T) {
	t.Parallel()
	dir, ix, w := watchSeeded(t, Options{})

	// Lookups run concurrently with the watcher (checked by -race).
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			for _, e := range ix.Snapshot() {
				ix.ByName(e.Name)
				ix.BySHA256(e.SHA256)
			}
		}
	}()

	data := testutil.RandBytes(3*pieces.Size+5, 2)
	testutil.WriteFile(t, dir, "new.bin", data)
	took := w.waitFor(t, "new file", 5*time.Second, has("new.bin"))
	if took > within {
		t.Errorf("new file reported after %v, want within %v", took, within)
	}
	checkEntry(t, w.entry("new.bin"), data)
	if e, ok := ix.ByName("new.bin"); !ok {
		t.Error("ByName(new.bin) not found after it was reported")
	} else {
		checkEntry(t, e, data)
	}
}

func TestWatchModifyRemoveRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, n := range []string{"mod", "del", "ren"} {
		writeOld(t, dir, n, testutil.RandBytes(pieces.Size+3, uint64(len(n))))
	}
	ix := open(t, Options{Dir: dir})
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("mod", "del", "ren"))
	hashed := ix.Hashed()

	data := testutil.RandBytes(50, 9)
	testutil.WriteFile(t, dir, "mod", data)
	w.waitFor(t, "modified file", 5*time.Second, func(m map[string]Entry) bool { return m["mod"].Size == 50 })
	checkEntry(t, w.entry("mod"), data)

	os.Remove(filepath.Join(dir, "del"))
	took := w.waitFor(t, "removed file", 5*time.Second, hasNot("del"))
	if took > within {
		t.Errorf("removal reported after %v, want within %v", took, within)
	}
	if _, ok := ix.ByName("del"); ok {
		t.Error("ByName(del) found after removal")
	}

	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "ren"), filepath.Join(dir, "sub", "renamed")); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "rename", 5*time.Second, func(m map[string]Entry) bool { return has("sub/renamed")(m) && hasNot("ren")(m) })
	checkEntry(t, w.entry("sub/renamed"), testutil.RandBytes(pieces.Size+3, 3))
	if got := ix.Hashed() - hashed; got != 1 {
		t.Errorf("hashed %d files, want 1 (the modified one; a rename is not hashed again)", got)
	}
}

func TestWatchSlowWrite(t *testing.T) {
	t.Parallel()
	dir, _, w := watchSeeded(t, Options{Settle: 400 * time.Millisecond})

	data := testutil.RandBytes(2*pieces.Size+100, 2)
	f, err := os.Create(filepath.Join(dir, "slow"))
	if err != nil {
		t.Fatal(err)
	}
	const chunks = 6
	step := (len(data) + chunks - 1) / chunks
	for off := 0; off < len(data); off += step {
		if _, err := f.Write(data[off:min(off+step, len(data))]); err != nil {
			t.Fatal(err)
		}
		// The scenario, not a wait for an event: a writer that pauses
		// between writes, for less than Settle.
		time.Sleep(25 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	took := w.waitFor(t, "slowly written file", 5*time.Second, func(m map[string]Entry) bool {
		return m["slow"].Size == int64(len(data))
	})
	if took > within {
		t.Errorf("reported %v after completion, want within %v", took, within)
	}
	got := w.reported("slow")
	if len(got) != 1 {
		t.Fatalf("slow file reported %d times (sizes %v), want once", len(got), sizes(got))
	}
	checkEntry(t, got[0], data)
}

func sizes(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Size
	}
	return out
}

func TestWatchNewFolders(t *testing.T) {
	t.Parallel()
	dir, _, w := watchSeeded(t, Options{})

	// Created faster than the watcher can add watches: found by walking the
	// new folder.
	testutil.WriteFile(t, dir, "x/y/z/deep", testutil.RandBytes(10, 2))
	w.waitFor(t, "file in new folders", 5*time.Second, has("x/y/z/deep"))

	// Created once the new folders are watched: found by their watch.
	data := testutil.RandBytes(1234, 3)
	testutil.WriteFile(t, dir, "x/y/later", data)
	took := w.waitFor(t, "later file in new folder", 5*time.Second, has("x/y/later"))
	if took > within {
		t.Errorf("reported after %v, want within %v", took, within)
	}
	checkEntry(t, w.entry("x/y/later"), data)
}

func TestWatchFolderRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, n := range []string{"d/1", "d/2", "d/e/3"} {
		writeOld(t, dir, n, testutil.RandBytes(100, uint64(len(n)+int(n[len(n)-1]))))
	}
	ix := open(t, Options{Dir: dir})
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("d/1", "d/2", "d/e/3"))
	hashed := ix.Hashed()

	if err := os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "renamed folder", 5*time.Second, func(m map[string]Entry) bool {
		return has("moved/1", "moved/2", "moved/e/3")(m) && hasNot("d/1", "d/2", "d/e/3")(m)
	})
	if got := ix.Hashed() - hashed; got != 0 {
		t.Errorf("hashed %d files after a folder rename, want 0", got)
	}

	// The moved folders are watched under their new names.
	testutil.WriteFile(t, dir, "moved/e/4", testutil.RandBytes(10, 4))
	w.waitFor(t, "file in moved folder", 5*time.Second, has("moved/e/4"))
	if got := w.reported("d/e/4"); len(got) != 0 {
		t.Errorf("file reported under the folder's old name")
	}

	// A folder removed with its content.
	if err := os.RemoveAll(filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "removed folder", 5*time.Second, hasNot("moved/1", "moved/2", "moved/e/3", "moved/e/4"))
}

func TestWatchSkipsPartialAndHidden(t *testing.T) {
	t.Parallel()
	dir, ix, w := watchSeeded(t, Options{})

	data := testutil.RandBytes(pieces.Size+9, 2)
	testutil.WriteFile(t, dir, "movie.mkv.peerhub-partial", data)
	testutil.WriteFile(t, dir, "movie.mkv.peerhub-state", testutil.RandBytes(10, 3))
	testutil.WriteFile(t, dir, ".hidden", testutil.RandBytes(10, 4))
	testutil.WriteFile(t, dir, ".peerhub/incoming/upload-1", testutil.RandBytes(10, 5))
	testutil.WriteFile(t, dir, "sub/.hdir/x", testutil.RandBytes(10, 6))
	testutil.WriteFile(t, dir, "marker", testutil.RandBytes(10, 7))
	// The marker, written last, settles last: once it is reported, the
	// names written before it were seen and skipped.
	w.waitFor(t, "marker", 5*time.Second, has("marker"))

	// The download completes: renamed to its final name.
	if err := os.Rename(filepath.Join(dir, "movie.mkv.peerhub-partial"), filepath.Join(dir, "movie.mkv")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "movie.mkv.peerhub-state"))
	w.waitFor(t, "completed download", 5*time.Second, has("movie.mkv"))
	checkEntry(t, w.entry("movie.mkv"), data)

	for _, n := range []string{"movie.mkv.peerhub-partial", "movie.mkv.peerhub-state", ".hidden", ".peerhub/incoming/upload-1", "sub/.hdir/x"} {
		if got := w.reported(n); len(got) != 0 {
			t.Errorf("%s reported", n)
		}
	}
	if got := names(ix.Snapshot()); !slices.Equal(got, []string{"marker", "movie.mkv", "seed"}) {
		t.Errorf("Snapshot = %q", got)
	}
}

func TestWatchUpdatesCache(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	writeOld(t, dir, "seed", testutil.RandBytes(10, 1))
	o := Options{Dir: dir, StateDir: state}
	ix := open(t, o)
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("seed"))
	for i := range 5 {
		testutil.WriteFile(t, dir, fmt.Sprintf("new%d", i), testutil.RandBytes(100, uint64(10+i)))
	}
	w.waitFor(t, "new files", 5*time.Second, has("new0", "new1", "new2", "new3", "new4"))
	w.stop()
	ix.Close()

	ix = open(t, o)
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(ix.Snapshot()) != 6 || ix.Hashed() != 0 {
		t.Fatalf("after restart: %d entries, %d hashed, want 6, 0", len(ix.Snapshot()), ix.Hashed())
	}
}

func TestWatchFileInProgressAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeOld(t, dir, "seed", testutil.RandBytes(10, 1))
	data := testutil.RandBytes(pieces.Size+77, 2)
	f, err := os.Create(filepath.Join(dir, "copying"))
	if err != nil {
		t.Fatal(err)
	}
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		t.Fatal(err)
	}

	// Half written, modified less than Settle before the initial scan: the
	// scan must leave it to the watcher rather than report half a file.
	ix := open(t, Options{Dir: dir, Settle: time.Second})
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("seed"))
	if _, err := f.Write(data[half:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "file completed after start", 5*time.Second, func(m map[string]Entry) bool {
		return m["copying"].Size == int64(len(data))
	})
	got := w.reported("copying")
	if len(got) != 1 {
		t.Fatalf("reported %d times (sizes %v), want once", len(got), sizes(got))
	}
	checkEntry(t, got[0], data)
}

// TestWatchAfterScanKeepsFreshFiles checks that Watch, started right after
// a Scan of files written moments before, does not report them as removed.
func TestWatchAfterScanKeepsFreshFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		testutil.WriteFile(t, dir, name, []byte("fresh "+name))
	}
	ix := open(t, Options{Dir: dir})
	if _, err := ix.Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	changes := make(chan Change, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ix.Watch(ctx, changes) }()
	// A file written after Watch started settles after the fresh ones:
	// once it is reported, whatever Watch had to say about them was said.
	testutil.WriteFile(t, dir, "marker.txt", []byte("written after Watch started"))
	for marked := false; !marked; {
		select {
		case c := <-changes:
			if len(c.Removed) > 0 {
				cancel()
				t.Fatalf("Watch reported fresh, unchanged files as removed: %v", c.Removed)
			}
			marked = slices.ContainsFunc(c.Added, func(e Entry) bool { return e.Name == "marker.txt" })
		case <-time.After(testutil.DefaultWait):
			cancel()
			t.Fatal("the file written after Watch started was never reported")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(ix.Snapshot()); got != 4 {
		t.Fatalf("index holds %d files, want 4", got)
	}
}
