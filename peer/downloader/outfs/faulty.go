package outfs

import (
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Op is a kind of operation that needs disk space (or may, on some file
// systems), the points at which a Faulty folder can fail.
type Op int

// The operations a Faulty folder can fail.
const (
	OpCreate   Op = iota // OpenFile with os.O_CREATE
	OpAllocate           // File.Allocate
	OpTruncate           // File.Truncate
	OpWrite              // File.WriteAt
	OpSync               // File.Sync
	OpRename             // Folder.Rename (a new directory entry)
	OpLink               // Folder.Link (a new directory entry)
	OpMkdir              // Folder.MkdirAll (new folders)
)

// String names the operation, for test names and messages.
func (o Op) String() string {
	return [...]string{"create", "allocate", "truncate", "write", "sync", "rename", "link", "mkdir"}[o]
}

// Faulty is a Folder over another (the real one) that fails chosen
// operations with ENOSPC, as a file system that filled up does: after a
// number of calls succeeded, that operation on names with a given suffix
// fails, and keeps failing until MakeRoom is called. It is syncthing's
// error-filesystem idea for the downloader's few operations: the files are
// real, only the failure is injected. Safe for concurrent use.
type Faulty struct {
	Folder
	mu    sync.Mutex
	rules []*rule
	calls map[opName]int
}

// rule fails op on names ending in suffix after after calls succeeded.
type rule struct {
	op     Op
	suffix string
	after  int
	seen   int
}

// opName counts calls by operation and name.
type opName struct {
	op   Op
	name string
}

// NewFaulty wraps d; it fails nothing until FailAfter is called.
func NewFaulty(d Folder) *Faulty {
	return &Faulty{Folder: d, calls: map[opName]int{}}
}

// FailAfter makes op on names ending in suffix ("" for every name) fail
// with ENOSPC once after more calls of it succeeded, and every later call
// too, until MakeRoom.
func (d *Faulty) FailAfter(op Op, suffix string, after int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rules = append(d.rules, &rule{op: op, suffix: suffix, after: after})
}

// MakeRoom drops every failure: the disk has room again.
func (d *Faulty) MakeRoom() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rules = nil
}

// Calls is how many times op was called on names ending in suffix, failed
// calls included.
func (d *Faulty) Calls(op Op, suffix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k, c := range d.calls {
		if k.op == op && strings.HasSuffix(k.name, suffix) {
			n += c
		}
	}
	return n
}

// check counts a call of op on name and returns the error it must fail
// with, or nil.
func (d *Faulty) check(op Op, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[opName{op, name}]++
	for _, r := range d.rules {
		if r.op != op || !strings.HasSuffix(name, r.suffix) {
			continue
		}
		if r.seen >= r.after {
			return &fs.PathError{Op: op.String(), Path: name, Err: syscall.ENOSPC}
		}
		r.seen++
	}
	return nil
}

// OpenFile opens name in the folder underneath; with os.O_CREATE it is an
// OpCreate.
func (d *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if err := d.check(OpCreate, name); err != nil {
			return nil, err
		}
	}
	f, err := d.Folder.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, d: d, name: name}, nil
}

// Rename renames in the folder underneath; it is an OpRename of to.
func (d *Faulty) Rename(from, to string) error {
	if err := d.check(OpRename, to); err != nil {
		return err
	}
	return d.Folder.Rename(from, to)
}

// Link links in the folder underneath; it is an OpLink of to.
func (d *Faulty) Link(from, to string) error {
	if err := d.check(OpLink, to); err != nil {
		return err
	}
	return d.Folder.Link(from, to)
}

// MkdirAll creates folders in the folder underneath; it is an OpMkdir of
// name, even where name exists already (a full disk fails the call before
// the file system looks).
func (d *Faulty) MkdirAll(name string, perm fs.FileMode) error {
	if err := d.check(OpMkdir, name); err != nil {
		return err
	}
	return d.Folder.MkdirAll(name, perm)
}

// faultyFile is a File of a Faulty folder.
type faultyFile struct {
	File
	d    *Faulty
	name string
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.d.check(OpWrite, f.name); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) Allocate(size int64) error {
	if err := f.d.check(OpAllocate, f.name); err != nil {
		return err
	}
	return f.File.Allocate(size)
}

func (f *faultyFile) Truncate(size int64) error {
	if err := f.d.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultyFile) Sync() error {
	if err := f.d.check(OpSync, f.name); err != nil {
		return err
	}
	return f.File.Sync()
}
