package downloader_test

import (
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// syncCounter is an output folder that counts the writeback hints and the
// syncs of the partial file.
type syncCounter struct {
	outfs.Folder

	mu    sync.Mutex
	hints int
	syncs []int // the hints given before each sync
}

func (d *syncCounter) OpenFile(name string, flag int, perm fs.FileMode) (outfs.File, error) {
	f, err := d.Folder.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, sharepath.PartialSuffix) {
		return f, err
	}
	return &countedFile{File: f, d: d}, nil
}

type countedFile struct {
	outfs.File
	d *syncCounter
}

func (f *countedFile) StartWriteback(off, n int64) error {
	f.d.mu.Lock()
	f.d.hints++
	f.d.mu.Unlock()
	return f.File.StartWriteback(off, n)
}

func (f *countedFile) Sync() error {
	f.d.mu.Lock()
	f.d.syncs = append(f.d.syncs, f.d.hints)
	f.d.mu.Unlock()
	return f.File.Sync()
}

// download gets a new content of size bytes through d, with a commit
// interval of an hour: every writeback hint comes from the bytes written.
func downloadCounted(t *testing.T, size int64, d *syncCounter) (tgt downloader.Target, dest string, res *downloader.Result, err error) {
	t.Helper()
	a, peers, tgt, dest := served(t, "w.bin", size, peerOptions{})
	res, err = downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{
		Dest: dest, Token: a.token(t), CommitInterval: time.Hour,
		OpenFolder: func(dir string) (outfs.Folder, error) {
			f, err := outfs.Open(dir)
			if err != nil {
				return nil, err
			}
			d.Folder = f
			return d, nil
		},
	})
	return tgt, dest, res, err
}

// TestWritebackWhileDataArrives checks that the disk is asked to write a
// download's data as it arrives, every few MiB, not only once per commit
// interval, and that the partial file is synced once, at the end: a
// download shorter than the interval used to leave all of its data to the
// final fsync.
func TestWritebackWhileDataArrives(t *testing.T) {
	t.Parallel()
	const size = 72 * mib
	d := &syncCounter{}
	tgt, dest, _, err := downloadCounted(t, size, d)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.syncs) != 1 {
		t.Fatalf("the partial file was synced %d times, want once, at the end", len(d.syncs))
	}
	// 72 MiB in 8 MiB steps: 9 wake-ups, fewer when they merge (the loop
	// was not scheduled between two), but several.
	if last := d.syncs[0]; last < 2 {
		t.Fatalf("%d writeback hints before the final sync of %d MiB, want several (one per 8 MiB written)", last, size/mib)
	}
}
