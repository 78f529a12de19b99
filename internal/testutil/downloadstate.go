package testutil

import (
	"bytes"
	"encoding/binary"
)

// DownloadStateSaved reports whether state, the bytes of a download's
// state file (<dest>.peerhub-state), holds a record of progress: the file
// is reserved when the download starts and holds two records, one in each
// half, each beginning with the magic "phstate" and a little-endian
// generation that is 1 or more once a piece is recorded
// (peer/downloader/state.go has the layout). Tests use it to wait until a
// piece is on disk to resume.
func DownloadStateSaved(state []byte) bool {
	half := len(state) / 2
	for _, rec := range [][]byte{state[:half], state[half:]} {
		if bytes.HasPrefix(rec, []byte("phstate")) && len(rec) >= 16 && binary.LittleEndian.Uint64(rec[8:16]) >= 1 {
			return true
		}
	}
	return false
}
