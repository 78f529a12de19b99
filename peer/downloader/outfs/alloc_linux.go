package outfs

import (
	"errors"
	"os"
	"syscall"
)

// preallocate reserves size bytes of disk for f (empty) and sets its size,
// so that a full disk shows at the start of a download rather than in the
// middle, and writes land in blocks the file system already allocated. Where
// the file system cannot reserve space, the file is only extended (sparse).
func preallocate(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return f.Truncate(size)
	}
	return err
}
