//go:build !linux

package outfs

import "os"

// preallocate sets the size of f (empty) to size bytes: a sparse file where
// the file system has them, so pieces can be written at their offsets in any
// order.
func preallocate(f *os.File, size int64) error {
	return f.Truncate(size)
}
