//go:build !(linux || darwin || freebsd)

package transfer

import (
	"errors"
	"os"
)

// freeSpace is unknown on this platform: uploads are then only bounded by
// MaxUploadSize, and a full disk shows as a write error.
func freeSpace(*os.Root) (int64, error) {
	return 0, errors.ErrUnsupported
}
