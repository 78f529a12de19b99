//go:build !unix

package downloader_test

import "time"

// cpuTime is not measured on this system.
func cpuTime() (self, children time.Duration) { return 0, 0 }
