// Package diskspace owns the one question peerhub asks a file system before
// it writes a large file: how many bytes may still be written there. The
// downloader asks it before it reserves a file of an announced size, the
// transfer service before it accepts an upload.
package diskspace

import "errors"

// ErrUnsupported is Free's error where the platform cannot tell; callers
// then go on without the check (a full disk shows as a write error).
var ErrUnsupported = errors.ErrUnsupported
