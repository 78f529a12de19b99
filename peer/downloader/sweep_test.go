package downloader

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plant writes name in dir with content and sets its modification time to
// age before now.
func plant(t *testing.T, dir, name string, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-age)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestSweepRemovesOnlyStaleOwnFiles(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	plant(t, outside, "target.peerhub-partial", 30*24*time.Hour)
	week := StaleSidecarAge + time.Hour
	hour := StaleTempStateAge + time.Minute
	gone := []string{
		".0123456789abcdef.peerhub-state", // temp state, killed while saving
		"lone.iso.peerhub-partial",        // partial with no state
		"orphan.iso.peerhub-state",        // state with no partial
	}
	plant(t, dir, gone[0], hour)
	plant(t, dir, gone[1], week)
	plant(t, dir, gone[2], week)
	kept := []string{
		".fedcba9876543210.peerhub-state", // fresh temp state: a download saving now
		"fresh.iso.peerhub-partial",       // fresh partial: a download starting
		"paused.iso.peerhub-partial",      // a pair: resumable, however old
		"paused.iso.peerhub-state",
		"notes.peerhub-partial.txt", // the user's, similar names
		".0123456789abcdef.peerhub-state~",
		".0123.peerhub-state.bak",
		"photo.jpg",
		"dest.bin.peerhub-partial", // the download's own names: left to open
	}
	plant(t, dir, kept[0], StaleTempStateAge-time.Minute)
	plant(t, dir, kept[1], time.Minute)
	for _, n := range kept[2:] {
		plant(t, dir, n, week)
	}
	// A link with a stale name is neither followed nor removed.
	link := filepath.Join(dir, "link.iso.peerhub-partial")
	if err := os.Symlink(filepath.Join(outside, "target.peerhub-partial"), link); err != nil {
		t.Fatal(err)
	}
	// A hard link to a file elsewhere is not removed either.
	if err := os.Link(filepath.Join(outside, "target.peerhub-partial"), filepath.Join(dir, "hard.iso.peerhub-partial")); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, "link.iso.peerhub-partial", "hard.iso.peerhub-partial")

	d, err := openFolder(filepath.Join(dir, "dest.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	d.sweep(time.Now())

	for _, n := range gone {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: stale, want it removed (%v)", n, err)
		}
	}
	for _, n := range kept {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: want it kept: %v", n, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "target.peerhub-partial")); err != nil {
		t.Errorf("link target: %v", err)
	}
}

func TestFailedPreallocationLeavesNoPartial(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "big.bin")
	open := func() (*engine, error) {
		d, err := openFolder(dest)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.close)
		e := &engine{
			t:     Target{SHA256: strings.Repeat("a", 64), Size: 3 << 20, PieceSize: 1 << 20, PieceRoot: strings.Repeat("b", 64)},
			psize: 1 << 20, n: 3, dir: d,
			allocate: func(*os.File, int64) error { return syscall.ENOSPC },
		}
		err = e.open()
		if e.f != nil {
			e.f.Close()
		}
		return e, err
	}
	if _, err := open(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("open: %v, want ENOSPC", err)
	}
	if _, err := os.Lstat(dest + ".peerhub-partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial after a failed preallocation: %v, want none", err)
	}

	// A partial that was there before the run is not this run's to remove.
	plant(t, dir, "big.bin.peerhub-partial", time.Minute)
	if _, err := open(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("open: %v, want ENOSPC", err)
	}
	if _, err := os.Lstat(dest + ".peerhub-partial"); err != nil {
		t.Fatalf("a partial from before the run: %v, want it kept", err)
	}
}
