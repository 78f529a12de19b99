package downloader

import (
	"errors"
	"os"
	"path/filepath"
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

	d, err := openFolder(filepath.Join(dir, "dest.bin"), nil)
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
