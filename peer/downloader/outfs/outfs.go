// Package outfs is the seam between a download and its output folder: the
// few file operations the downloader does there (Folder, File), the real
// one on an os.Root (Open), and a wrapper that makes them fail as a full
// disk does at a chosen point (Faulty), so that tests can drive disk-full at
// each write point of a download.
package outfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/peerhub/peerhub/internal/diskspace"
)

// Folder is a download's access to its output folder, or an upload's to the
// shared folder (peer/transfer). The downloader passes single path
// elements, uploads slash-separated paths inside the folder; no operation
// follows a symbolic link at the name it is given or leaves the folder
// (os.Root's rules).
type Folder interface {
	// Lstat describes name itself, not what a link there points to.
	Lstat(name string) (fs.FileInfo, error)
	// OpenFile opens name with os.OpenFile's flag and perm.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes name itself (a link, not its target).
	Remove(name string) error
	// Rename moves from to to inside the folder; a link at to is replaced.
	Rename(from, to string) error
	// Link makes to a new name (hard link) of the file from; it fails
	// with fs.ErrExist when to exists, so it never replaces anything.
	Link(from, to string) error
	// MkdirAll creates the folder name and its missing parents.
	MkdirAll(name string, perm fs.FileMode) error
	// Names lists the folder's entries.
	Names() ([]string, error)
	// Sync makes the folder's entries (renames, removes) durable.
	Sync() error
	// Free is the folder's free disk space in bytes, or an error where it
	// is unknown.
	Free() (int64, error)
	// Close releases the folder.
	Close() error
}

// File is an open file in a Folder.
type File interface {
	io.Reader
	io.ReaderAt
	io.WriterAt
	// Stat describes the open file.
	Stat() (fs.FileInfo, error)
	// Truncate sets the file's size in bytes.
	Truncate(size int64) error
	// Allocate reserves size bytes of disk for the file (which must be
	// empty) and sets its size, so that writes inside it need no new
	// block; where the file system cannot reserve space, it only sets the
	// size (a sparse file).
	Allocate(size int64) error
	// StartWriteback starts writing the range's data to disk without
	// waiting for it, so that the one Sync at the end has little left to
	// do; a hint that makes nothing durable (a no-op where unsupported).
	StartWriteback(off, n int64) error
	// Sync makes the file's content durable.
	Sync() error
	// Close closes the file.
	Close() error
}

// Open opens dir as a Folder on the operating system's file system,
// through an os.Root.
func Open(dir string) (Folder, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return osFolder{root}, nil
}

// OnRoot is the Folder of an os.Root its caller already holds (the shared
// folder of peer/transfer). Its Close closes root.
func OnRoot(root *os.Root) Folder { return osFolder{root} }

// DiskFull reports whether err says the disk or the user's quota is full:
// the one test of "disk full" for downloads and uploads alike.
func DiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// osFolder is Folder on an os.Root.
type osFolder struct{ root *os.Root }

func (d osFolder) Lstat(name string) (fs.FileInfo, error) { return d.root.Lstat(name) }
func (d osFolder) Remove(name string) error               { return d.root.Remove(name) }
func (d osFolder) Rename(from, to string) error           { return d.root.Rename(from, to) }
func (d osFolder) Link(from, to string) error             { return d.root.Link(from, to) }
func (d osFolder) MkdirAll(name string, perm fs.FileMode) error {
	return d.root.MkdirAll(name, perm)
}
func (d osFolder) Free() (int64, error) { return diskspace.Free(d.root) }
func (d osFolder) Close() error         { return d.root.Close() }

func (d osFolder) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := d.root.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (d osFolder) Names() ([]string, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func (d osFolder) Sync() error {
	f, err := d.root.Open(".")
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// osFile is File on an *os.File.
type osFile struct{ *os.File }

func (f osFile) Allocate(size int64) error { return preallocate(f.File, size) }

func (f osFile) StartWriteback(off, n int64) error { return startWriteback(f.File, off, n) }
