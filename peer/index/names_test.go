package index

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
)

// logRecorder is a slog.Handler that keeps the records it gets.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// warned returns the "name" of every warning logged so far.
func (l *logRecorder) warned() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level != slog.LevelWarn {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "name" {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	slices.Sort(out)
	return out
}

// unportable are file names Linux stores but sharepath refuses.
var unportable = []string{
	`back\slash.txt`,
	`..\..\escape.txt`,
	"C:drive.txt",
	"stream.txt:ads",
	"evil\u202egnp.exe",
	"isolate\u2066.txt",
	"c1\u0085.txt",
	"cafe\u0301.txt", // NFD
}

// TestUnportableNamesNotShared checks that the index shares no file whose
// name is not portable, found by a scan or by the watcher, and logs each as
// a warning (its owner has to rename it to share it).
func TestUnportableNamesNotShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeOld(t, dir, "ok.txt", testutil.RandBytes(10, 1))
	writeOld(t, dir, "café.txt", testutil.RandBytes(10, 2)) // NFC
	for i, name := range unportable {
		writeOld(t, dir, name, testutil.RandBytes(10, uint64(10+i)))
	}
	rec := &logRecorder{}
	ix := open(t, Options{Dir: dir, StateDir: t.TempDir(), Logger: slog.New(rec)})
	c, err := ix.Scan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(c.Added), []string{"café.txt", "ok.txt"}; !slices.Equal(got, want) {
		t.Fatalf("Scan shared %q, want %q", got, want)
	}
	want := slices.Sorted(slices.Values(unportable))
	if got := rec.warned(); !slices.Equal(got, want) {
		t.Fatalf("warnings for %q, want one per unportable name %q", got, want)
	}

	// Files that appear while an index watches.
	rec = &logRecorder{}
	ix = open(t, Options{Dir: dir, StateDir: t.TempDir(), Logger: slog.New(rec)})
	w := watch(t, ix)
	w.waitFor(t, "initial scan", 5*time.Second, has("ok.txt"))
	testutil.WriteFile(t, dir, "new\u202e.txt", []byte("x"))
	testutil.WriteFile(t, dir, "new-ok.txt", []byte("y"))
	w.waitFor(t, "the portable new file", 5*time.Second, has("new-ok.txt"))
	testutil.Eventually(t, 5*time.Second, "a warning for the new unportable file", func() error {
		if !slices.Contains(rec.warned(), "new\u202e.txt") {
			return fmt.Errorf("warnings so far: %q", rec.warned())
		}
		return nil
	})
	if _, ok := ix.ByName("new\u202e.txt"); ok {
		t.Error("a new file with a bidi override in its name is shared")
	}
}
