package cli

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// get --folder PEER:PATH: a peer's folder and its subfolders, recreated
// under the output folder as PATH's last segment (the peer's name for the
// whole share). Which names may be written, and where, is the
// downloader's rule (downloader.ListFolder, FolderPath, MakeParents): a
// hostile peer's listing names nothing outside the output folder.

// peerNameRE is a peer's name, as the directory's protocol states it
// (ListFilesRequest.peer). Compiled on first use: its bounded repetition
// makes a large program (0.1 ms and 861 allocations), which every start of
// the binary paid in init for the rare --folder.
var peerNameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
})

// folderSpec is one --folder value.
type folderSpec struct {
	peer string
	path string // slash-separated, no leading or trailing "/"; "" for the whole share
}

// String is the spec as a person writes it.
func (f folderSpec) String() string { return f.peer + ":" + f.path }

// parseFolderSpec reads PEER:PATH. The error is a usage error.
func parseFolderSpec(v string) (folderSpec, error) {
	peer, path, ok := strings.Cut(v, ":")
	if !ok || !peerNameRE().MatchString(peer) {
		return folderSpec{}, usageError{fmt.Errorf("--folder %q: want PEER:PATH, a peer's name (letters, digits, '.', '_', '-'), a colon and a folder it shares (empty for all it shares)", v)}
	}
	path = strings.Trim(sharepath.Normalize(path), "/")
	if path != "" {
		if err := sharepath.Check(path); err != nil {
			return folderSpec{}, usageError{fmt.Errorf("--folder %q: %w", v, err)}
		}
	}
	return folderSpec{peer: peer, path: path}, nil
}

// folderJobs lists each folder and returns a download per file, placed
// under root, and a failed one per name that cannot be downloaded (a
// folder that cannot be listed, a name the listing may not use).
func folderJobs(ctx context.Context, s *session.Session, specs []folderSpec, root *os.Root) []plannedGet {
	var plan []plannedGet
	for _, spec := range specs {
		files, refused, err := downloader.ListFolder(ctx, s.Reads(), spec.peer, spec.path)
		if err != nil {
			plan = append(plan, plannedGet{job: getJob{Label: spec.String()}, err: err})
			continue
		}
		for _, r := range refused {
			plan = append(plan, plannedGet{job: getJob{Label: r.Name}, err: r.Err})
		}
		for _, f := range files {
			c := f.Candidate
			plan = append(plan, plannedGet{job: getJob{Label: f.Path, Query: c.SHA256, Cand: &c, Root: root, Rel: f.Path}})
		}
	}
	return plan
}
