package transfer

import (
	"os"

	"github.com/peerhub/peerhub/internal/diskspace"
)

// freeSpace returns the bytes an unprivileged user may still write on the
// file system of root, or an error where the platform cannot tell: uploads
// are then only bounded by MaxUploadSize, and a full disk shows as a write
// error.
func freeSpace(root *os.Root) (int64, error) { return diskspace.Free(root) }
