//go:build !unix

package index

import (
	"io/fs"
	"os"
)

// openFlags opens files for hashing.
const openFlags = os.O_RDONLY

// keyOf returns the key of the file version fi describes. Without inode
// numbers, renames are not recognised and the file is hashed again; without
// a status change time, a rewrite that restores the size and modification
// time is caught only when serving verifies a piece (peer/transfer).
func keyOf(fi fs.FileInfo) fileKey {
	return fileKey{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
}

// idOf returns the zero fileID: there are no inode numbers to match.
func idOf(fs.FileInfo) fileID { return fileID{} }
