package transfer

import (
	"errors"
	"io/fs"
	"regexp"
	"time"

	"github.com/peerhub/peerhub/internal/sharepath"
)

// StaleUploadAge is how old (by modification time) a temporary upload file
// in IncomingDir must be before a starting peer removes it. An upload
// writes to its file as the data arrives, so one untouched that long was
// cut off by a crash or a kill; it can never be completed (an upload that
// is cut starts over).
const StaleUploadAge = time.Hour

// uploadTempName is the name receive gives a temporary upload file:
// rand.Text (26 base32 characters) and ".upload".
var uploadTempName = regexp.MustCompile(`^[A-Z2-7]{26}\.upload$`)

// sweepIncoming removes the temporary upload files older than
// StaleUploadAge that an earlier run left in IncomingDir. It goes through
// the shared folder's os.Root, refuses a StateDir or IncomingDir that is a
// symbolic link (it is then not the peer's own), matches only the names
// receive writes and removes only regular files (a link there is neither
// followed nor removed). It is best effort and returns how many it removed.
func (s *Service) sweepIncoming(now time.Time) int {
	for _, d := range []string{sharepath.StateDir, IncomingDir} {
		fi, err := s.root.Lstat(d)
		if err != nil || !fi.IsDir() {
			return 0
		}
	}
	f, err := s.root.Open(IncomingDir)
	if err != nil {
		return 0
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return 0
	}
	removed := 0
	for _, n := range names {
		if !uploadTempName.MatchString(n) {
			continue
		}
		p := IncomingDir + "/" + n
		fi, err := s.root.Lstat(p)
		if err != nil || fi.Mode().Type() != 0 || now.Sub(fi.ModTime()) < StaleUploadAge {
			continue
		}
		if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove stale temporary upload file", "file", p, "error", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("removed stale temporary upload files", "count", removed, "folder", IncomingDir)
	}
	return removed
}
