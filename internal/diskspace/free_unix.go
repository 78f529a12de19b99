//go:build linux || darwin || freebsd

package diskspace

import (
	"fmt"
	"os"
	"syscall"
)

// Free returns the bytes an unprivileged user may still write on the file
// system of the folder root (at most 2^62, so that sums stay far from
// overflowing).
func Free(root *os.Root) (int64, error) {
	d, err := root.Open(".")
	if err != nil {
		return 0, fmt.Errorf("open folder: %w", err)
	}
	defer d.Close()
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(d.Fd()), &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", root.Name(), err)
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	return int64(min(free, 1<<62)), nil
}
