//go:build !(linux || darwin || freebsd)

package diskspace

import "os"

// Free is unknown on this platform: it returns ErrUnsupported.
func Free(*os.Root) (int64, error) {
	return 0, ErrUnsupported
}
