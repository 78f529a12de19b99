//go:build !unix

package downloader

import "io/fs"

// hardLinks is 1 where the platform does not tell.
func hardLinks(fs.FileInfo) uint64 { return 1 }
