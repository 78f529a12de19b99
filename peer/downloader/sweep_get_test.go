package downloader_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestDownloadSweepsItsFolder: a get removes the stray files an earlier,
// killed get left in its folder, and keeps a resumable pair and fresh ones.
func TestDownloadSweepsItsFolder(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "f.bin", 1<<20, peerOptions{})
	dir := filepath.Dir(dest)
	put := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := []string{
		put(".00112233445566aa.peerhub-state", downloader.StaleTempStateAge+time.Minute),
		put("old.iso.peerhub-partial", downloader.StaleSidecarAge+time.Hour),
	}
	kept := []string{
		put(".00112233445566bb.peerhub-state", time.Minute),
		put("paused.iso.peerhub-partial", 30*24*time.Hour),
		put("paused.iso.peerhub-state", 30*24*time.Hour),
		put("old.iso", 30*24*time.Hour),
	}
	if _, err := downloader.Download(t.Context(), tgt, sources(peers...), downloader.Options{Dest: dest, Token: a.token(t)}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	for _, p := range stale {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: want it removed (%v)", filepath.Base(p), err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: want it kept: %v", filepath.Base(p), err)
		}
	}
}
