//go:build !unix

package index

import (
	"io/fs"
	"os"
)

// openFlags opens files for hashing.
const openFlags = os.O_RDONLY

// keyOf returns the key of the file version fi describes. Without inode
// numbers, renames are not recognised and the file is hashed again.
func keyOf(fi fs.FileInfo) fileKey {
	return fileKey{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
}
