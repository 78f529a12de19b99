package downloader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/sharepath"
)

// A peer's folder, downloaded with its structure: which files of the
// directory's listing belong to it (ListFolder), where each may go under
// an output folder (FolderPath), and making the folders on the way there
// (MakeParents). The listing is the peer's word, relayed by the directory:
// neither is trusted to keep a name inside the output folder.

// MaxFolderFiles is the most files ListFolder takes from one folder: a
// larger listing is refused whole rather than downloaded in part (a
// hostile peer could publish a million names).
const MaxFolderFiles = 100_000

// folderPageSize is how many listing entries ListFolder asks for per call:
// the directory's largest page.
const folderPageSize = 1000

// maxFolderPages is how many pages of a peer's listing ListFolder reads at
// most: a peer may publish 1,000,000 files (Snapshot.files), 1000 full
// pages; a directory that keeps answering with another page token (or
// with short pages) is not followed for ever.
const maxFolderPages = 1000

// ErrRefusedName means a name in a folder's listing cannot be written
// under the output folder as it is: it is not a portable relative path
// (sharepath.Check), it is one of the names peerhub keeps for itself (a
// partial or state file, the .peerhub folder), or it is both a file and a
// folder in the listing.
var ErrRefusedName = errors.New("refused name")

// Lister is the part of the directory's client ListFolder needs;
// directoryv1connect.DirectoryServiceClient has it.
type Lister interface {
	// ListFiles is DirectoryService.ListFiles.
	ListFiles(context.Context, *connect.Request[directoryv1.ListFilesRequest]) (*connect.Response[directoryv1.ListFilesResponse], error)
}

// FolderFile is one file of a peer's folder.
type FolderFile struct {
	// Path is where the file goes, relative to the folder that receives
	// the download, slash-separated: the folder's last segment (or the
	// peer's name, for the whole share) and the file's path inside it. It
	// passed FolderPath.
	Path string
	// Candidate is the content, with the peer as its one source.
	Candidate
}

// RefusedFile is a name in a folder's listing that is not downloaded.
type RefusedFile struct {
	// Name is the name as listed.
	Name string
	// Err says why; it wraps ErrRefusedName.
	Err error
}

// ListFolder lists the files peer shares in folder, a slash-separated path
// in its shared folder ("" for the whole share), and subfolders, sorted by
// path. Names that FolderPath refuses, and files that are also folders in
// the listing, are returned apart, with the reason. Entries the directory
// returns for another peer, or outside folder, are ignored.
//
// Errors: ErrNotFound (no file of peer is in folder: the peer is offline,
// or shares nothing there), the directory's error, or a listing of more
// than MaxFolderFiles files.
func ListFolder(ctx context.Context, dir Lister, peer, folder string) ([]FolderFile, []RefusedFile, error) {
	folder = strings.Trim(sharepath.Normalize(folder), "/")
	base := peer
	if folder != "" {
		if err := sharepath.Check(folder); err != nil {
			return nil, nil, fmt.Errorf("folder %q: %w", folder, err)
		}
		base = path.Base(folder)
	}
	var files []FolderFile
	var refused []RefusedFile
	req := &directoryv1.ListFilesRequest{Peer: peer, PageSize: folderPageSize}
	for page := 0; ; page++ {
		if page == maxFolderPages {
			return nil, nil, fmt.Errorf("list the files of %s: the directory sent more than %d pages", peer, maxFolderPages)
		}
		res, err := dir.ListFiles(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, nil, fmt.Errorf("list the files of %s: %w", peer, err)
		}
		for _, sf := range res.Msg.GetFiles() {
			f := sf.GetFile()
			if sf.GetPeer() != peer || !inFolder(f.GetName(), folder) {
				continue
			}
			if len(files)+len(refused) >= MaxFolderFiles {
				return nil, nil, fmt.Errorf("%s:%s lists more than %d files: too many for one get", peer, folder, MaxFolderFiles)
			}
			rel, err := FolderPath(base, folder, f.GetName())
			if err != nil {
				refused = append(refused, RefusedFile{Name: f.GetName(), Err: err})
				continue
			}
			files = append(files, FolderFile{Path: rel, Candidate: Candidate{
				Target: Target{SHA256: f.GetSha256(), Size: f.GetSize(), PieceSize: int64(f.GetPieceSize()), PieceRoot: f.GetPieceRoot()},
				Name:   f.GetName(), Names: []string{f.GetName()}, Accounts: 1,
				Sources: []Source{{Peer: sf.GetPeer(), Address: sf.GetAddress(), Name: f.GetName()}},
			}})
		}
		if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	files, refused = splitFileFolders(files, refused)
	if len(files) == 0 && len(refused) == 0 {
		return nil, nil, fmt.Errorf("%s:%s: %w", peer, folder, ErrNotFound)
	}
	return files, refused, nil
}

// inFolder reports whether name is inside folder, segment by segment:
// "music/a" is in "music", "musicals/a" is not.
func inFolder(name, folder string) bool {
	return folder == "" || strings.HasPrefix(name, folder+"/")
}

// FolderPath is where the file name of a listing of folder goes, relative
// to the folder that receives the download: base (the folder's last
// segment) followed by name's path inside folder. It refuses (wrapping
// ErrRefusedName) a name outside folder, one that sharepath.Check refuses
// (an absolute path, a "..", "." or empty segment, a "\" or ":", a device
// name…), and names peerhub keeps for itself: a segment that is
// sharepath.StateDir or that ends in sharepath.PartialSuffix or
// sharepath.StateSuffix, which would collide with another download's
// partial or state file. The result is a portable relative path that
// cannot leave the receiving folder.
func FolderPath(base, folder, name string) (string, error) {
	refuse := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrRefusedName, name, why)
	}
	if err := sharepath.CheckSegment(base); err != nil {
		return refuse("folder " + err.Error())
	}
	if err := sharepath.Check(name); err != nil {
		return refuse(err.Error())
	}
	if !inFolder(name, folder) {
		return refuse("not in " + folder)
	}
	rel := base + "/" + strings.TrimPrefix(name, folder+"/")
	for seg := range strings.SplitSeq(rel, "/") {
		switch {
		case seg == sharepath.StateDir:
			return refuse("a peerhub state folder")
		case strings.HasSuffix(seg, sharepath.PartialSuffix) || strings.HasSuffix(seg, sharepath.StateSuffix):
			return refuse("a download's partial or state file")
		}
	}
	if err := sharepath.Check(rel); err != nil {
		return refuse(err.Error())
	}
	return rel, nil
}

// splitFileFolders refuses each file whose path is also a folder of
// another file in the listing ("a" and "a/b"): it cannot be both.
func splitFileFolders(files []FolderFile, refused []RefusedFile) ([]FolderFile, []RefusedFile) {
	folders := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			folders[d] = true
		}
	}
	kept := files[:0]
	for _, f := range files {
		if folders[f.Path] {
			refused = append(refused, RefusedFile{Name: f.Name, Err: fmt.Errorf("%w %q: both a file and a folder in the listing", ErrRefusedName, f.Name)})
			continue
		}
		kept = append(kept, f)
	}
	slices.SortFunc(kept, func(a, b FolderFile) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(refused, func(a, b RefusedFile) int { return strings.Compare(a.Name, b.Name) })
	return kept, refused
}

// MakeParents makes the folders of rel (a FolderPath) inside root, one
// segment at a time, each through root (so none is made outside it). A
// segment that exists must be a folder and not a symbolic link: a download
// never writes through a link in its output folder, even one pointing
// inside it, since the download itself opens the folder by its path.
func MakeParents(root *os.Root, rel string) error {
	if err := sharepath.Check(rel); err != nil {
		return fmt.Errorf("%w %q: %w", ErrRefusedName, rel, err)
	}
	segs := strings.Split(rel, "/")
	for i := range len(segs) - 1 {
		dir := strings.Join(segs[:i+1], "/")
		err := root.Mkdir(dir, 0o755)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("make folder %s: %w", dir, err)
		}
		fi, err := root.Lstat(dir)
		if err != nil {
			return fmt.Errorf("make folder %s: %w", dir, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
			return fmt.Errorf("%s is a %s, not a folder: a download never writes through links or over files (%w): remove it",
				filepath.Join(root.Name(), filepath.FromSlash(dir)), describeMode(fi.Mode()), ErrNotRegular)
		}
	}
	return nil
}

// describeMode names a file's type for a message.
func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return m.Type().String()
}
