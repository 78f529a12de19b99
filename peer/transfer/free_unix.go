//go:build linux || darwin || freebsd

package transfer

import (
	"fmt"
	"os"
	"syscall"
)

// freeSpace returns the bytes an unprivileged user may still write on the
// file system of root.
func freeSpace(root *os.Root) (int64, error) {
	d, err := root.Open(".")
	if err != nil {
		return 0, fmt.Errorf("open shared folder: %w", err)
	}
	defer d.Close()
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(d.Fd()), &st); err != nil {
		return 0, fmt.Errorf("statfs shared folder: %w", err)
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	return int64(min(free, 1<<62)), nil
}
