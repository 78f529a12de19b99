package downloader

import (
	"errors"
	"fmt"
	"syscall"
)

// diskFull marks err with ErrDiskFull when it says the disk or the quota is
// full, so that callers can tell the user to free space; other errors are
// returned as they are.
func diskFull(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}
