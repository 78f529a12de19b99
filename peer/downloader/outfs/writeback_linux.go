package outfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's dirty pages in
// [off, off+n) to disk and returns without waiting for them
// (sync_file_range with SYNC_FILE_RANGE_WRITE only): the disk writes a
// download while it arrives, instead of all of it in the one fsync at the
// end. It makes nothing durable (no metadata, no wait) and is a no-op on
// tmpfs.
func startWriteback(f *os.File, off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
