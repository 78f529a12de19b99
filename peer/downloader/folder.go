package downloader

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// folder is a download's access to its output folder. Every open, create,
// rename and remove goes through an outfs.Folder (an os.Root on the folder
// in production), and none follows
// a symbolic link: a link planted at one of the download's names (the
// partial file, the state file) is refused, never written through, and
// renames and removes act on the name itself. The folder holds the
// download's own three names only: the destination, its partial file and its
// state file.
type folder struct {
	dir     string // the folder, as given
	root    outfs.Folder
	name    string // the destination's name in the folder
	partial string // the partial file's name
	state   string // the state file's name
}

// openFolder opens the folder of dest with open (outfs.Open if nil). The
// destination's name must be portable (sharepath.CheckSegment): a name the
// directory or a peer made up is never written as is if another system
// could not store it, or would show it as another name.
func openFolder(dest string, open func(dir string) (outfs.Folder, error)) (*folder, error) {
	dir, name := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	if err := sharepath.CheckSegment(name); err != nil {
		return nil, fmt.Errorf("download: refusing to write %q: %w", name, err)
	}
	if open == nil {
		open = outfs.Open
	}
	root, err := open(dir)
	if err != nil {
		return nil, fmt.Errorf("download: output folder: %w", err)
	}
	return &folder{
		dir:     filepath.Clean(dir),
		root:    root,
		name:    name,
		partial: sidecar(name, sharepath.PartialSuffix),
		state:   sidecar(name, sharepath.StateSuffix),
	}, nil
}

// close releases the folder.
func (d *folder) close() { d.root.Close() }

// path is the full path of a name in the folder, for messages and results.
func (d *folder) path(name string) string { return filepath.Join(d.dir, name) }

// sidecar is the name of a download's partial or state file: the
// destination's name and suffix, or, when that would be longer than a file
// name may be, a shortened name made unique by a hash of the whole one.
func sidecar(name, suffix string) string {
	// Room for the longest suffix.
	const room = sharepath.MaxSegment - len(sharepath.PartialSuffix)
	if len(name) <= room {
		return name + suffix
	}
	sum := sha256.Sum256([]byte(name))
	keep := room - 17 // "~" and 16 hex digits
	for keep > 0 && !utf8.RuneStart(name[keep]) {
		keep--
	}
	return name[:keep] + "~" + hex.EncodeToString(sum[:8]) + suffix
}

// ErrNotRegular means one of a download's names in the output folder is a
// symbolic link or another non-regular file (or was swapped for one while
// it was opened): the download does not follow it or write through it.
var ErrNotRegular = errors.New("not a regular file")

// lstat describes name itself, not what a link there points to; a missing
// name is (nil, nil).
func (d *folder) lstat(name string) (fs.FileInfo, error) {
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

// openExisting opens name, which must be a regular file with a single link,
// for flag (O_RDONLY or O_RDWR), without following a link: the name is
// checked before it is opened and the file opened is checked to be the one
// that was checked. A missing file is (nil, nil).
func (d *folder) openExisting(name string, flag int) (outfs.File, error) {
	before, err := d.lstat(name)
	if before == nil || err != nil {
		return nil, err
	}
	if err := d.regular(name, before); err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(name, flag&^(os.O_CREATE|os.O_EXCL|os.O_TRUNC), 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	if err == nil && !os.SameFile(before, after) {
		err = fmt.Errorf("%w: %s was replaced while it was opened", ErrNotRegular, d.path(name))
	}
	if err == nil {
		err = d.regular(name, after)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// regular refuses a name that is not a regular file of one link: a
// symbolic link, a folder, a device, or a hard link to a file elsewhere
// (writing to it would change that file too).
func (d *folder) regular(name string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link; a download never follows links in its folder: remove it", ErrNotRegular, d.path(name))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is a %s; remove it", ErrNotRegular, d.path(name), fi.Mode().Type())
	case hardLinks(fi) > 1:
		return fmt.Errorf("%w: %s has %d hard links; a download writes only files of its own: remove it", ErrNotRegular, d.path(name), hardLinks(fi))
	}
	return nil
}

// create creates name, which must not exist (O_EXCL: never through a link).
func (d *folder) create(name string) (outfs.File, error) {
	return d.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}

// remove removes name itself (a link, not what it points to); a missing
// name is no error.
func (d *folder) remove(name string) error {
	err := d.root.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// rename moves from to to inside the folder; a link at to is replaced, not
// followed.
func (d *folder) rename(from, to string) error { return d.root.Rename(from, to) }

// sync makes renames in the folder durable. Some systems cannot sync a
// folder; that only weakens durability, so its error is ignored.
func (d *folder) sync() { d.root.Sync() }

// free is the folder's free disk space, or an error where it is unknown.
func (d *folder) free() (int64, error) { return d.root.Free() }
