package downloader

import (
	"fmt"

	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// diskFull marks err with ErrDiskFull when it says the disk or the quota is
// full, so that callers can tell the user to free space; other errors are
// returned as they are.
func diskFull(err error) error {
	if outfs.DiskFull(err) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}
