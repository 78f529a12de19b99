package downloader

import (
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/peerhub/peerhub/internal/sharepath"
)

// StaleTempStateAge is how old (by modification time) a temporary state
// file (".<16 hex digits>.peerhub-state") must be before a download into
// its folder removes it. Versions before the in-place state file wrote one
// and renamed it over the state file once a second; one left that long is
// from such a download killed while saving.
const StaleTempStateAge = time.Hour

// StaleSidecarAge is how old a partial file with no state file beside it,
// or a state file with no partial file, must be before a download into its
// folder removes it: such a half of a pair cannot be resumed, and a week
// leaves time to notice and rescue it by hand.
const StaleSidecarAge = 7 * 24 * time.Hour

// tempStateName is the name earlier versions gave a temporary state file.
var tempStateName = regexp.MustCompile(`^\.[0-9a-f]{16}` + regexp.QuoteMeta(sharepath.StateSuffix) + `$`)

// sweep removes the stray files earlier downloads left in the folder:
// temporary state files older than StaleTempStateAge, and partial or state
// files older than StaleSidecarAge whose other half is missing. It matches
// only the names this package writes, looks at names only (a symbolic link
// is neither followed nor removed), and removes only regular files of one
// link; the download's own names are left to open. It is best effort: a
// folder it cannot list or a file it cannot remove is left as it is.
func (d *folder) sweep(now time.Time) {
	names, err := d.root.Names()
	if err != nil {
		return
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	for _, n := range names {
		if n == d.partial || n == d.state {
			continue
		}
		var age time.Duration
		switch {
		case tempStateName.MatchString(n):
			age = StaleTempStateAge
		case strings.HasSuffix(n, sharepath.PartialSuffix) && len(n) > len(sharepath.PartialSuffix):
			if have[strings.TrimSuffix(n, sharepath.PartialSuffix)+sharepath.StateSuffix] {
				continue
			}
			age = StaleSidecarAge
		case strings.HasSuffix(n, sharepath.StateSuffix) && len(n) > len(sharepath.StateSuffix):
			if have[strings.TrimSuffix(n, sharepath.StateSuffix)+sharepath.PartialSuffix] {
				continue
			}
			age = StaleSidecarAge
		default:
			continue
		}
		fi, err := d.lstat(n)
		if fi == nil || err != nil || !d.own(fi) || now.Sub(fi.ModTime()) < age {
			continue
		}
		d.remove(n)
	}
}

// own reports whether fi describes a file sweep may remove: a regular file
// (not a link, a folder or a device) with no other name.
func (d *folder) own(fi fs.FileInfo) bool {
	return fi.Mode().IsRegular() && hardLinks(fi) == 1
}
