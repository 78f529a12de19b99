//go:build unix

package index

import (
	"io/fs"
	"os"
	"syscall"
)

// openFlags opens files for hashing. O_NONBLOCK keeps a file swapped for a
// FIFO between listing and opening from blocking the open; it does not
// change reads from regular files.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK

// keyOf returns the key of the file version fi describes.
func keyOf(fi fs.FileInfo) fileKey {
	k := fileKey{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Ino = uint64(st.Ino)
		k.CTime = ctimeOf(st)
	}
	return k
}

// idOf returns the device and inode of the file fi describes.
func idOf(fi fs.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	}
	return fileID{}
}
