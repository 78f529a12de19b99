package downloader_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestDownloadOnDiskThatFills downloads onto a real 12 MiB tmpfs and fills
// it to the last byte once the first piece is written: the download
// completes, because its partial file and state file were reserved at the
// start and progress is saved in place (an earlier version wrote a new
// state file every second, failed with ENOSPC and stopped). Mounting needs
// root with CAP_SYS_ADMIN; no loop device or fallocate'd image is needed.
func TestDownloadOnDiskThatFills(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=12m,mode=0700"); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs (root with CAP_SYS_ADMIN needed): %v", err)
	}
	// Unmounted before TempDir's cleanup removes the folder.
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })

	a, peers, tgt, _ := served(t, "t.bin", 8*mib, peerOptions{maxRate: 8 * mib})
	dest := filepath.Join(dir, "t.bin")
	var once sync.Once
	var fillErr error
	doneAtFill := -1
	res, err := downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{
		Dest: dest, Token: a.token(t),
		CommitInterval:   5 * time.Millisecond,
		ProgressInterval: 2 * time.Millisecond,
		Progress: func(p downloader.Progress) {
			if p.PiecesDone >= 1 {
				once.Do(func() { doneAtFill, fillErr = p.PiecesDone, fill(filepath.Join(dir, "filler")) })
			}
		},
	})
	if fillErr != nil {
		t.Fatal(fillErr)
	}
	if err != nil {
		t.Fatalf("Download on a full disk: %v", err)
	}
	if doneAtFill < 0 || doneAtFill >= res.Pieces {
		t.Fatalf("the disk filled with %d of %d pieces done: the test did not test anything", doneAtFill, res.Pieces)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
}

// fill writes the file path until its file system is full, and checks
// that it is: the last write failed with ENOSPC.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, chunk)
		for {
			_, err := f.Write(buf)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return err
	}
	if st.Bavail != 0 {
		return errors.New("the tmpfs still has room after filling it")
	}
	return nil
}
