package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
)

// errChanged means a file changed while it was being hashed, so the hashes
// may describe no version of it.
var errChanged = errors.New("changed while hashing")

// errNotRegular means a name that was a regular file when listed is now
// something else.
var errNotRegular = errors.New("not a regular file")

// Scan walks the whole folder, hashes the files that are new or changed
// (size, modification time or inode differ from the index and the cache),
// replaces the index with the result and returns what changed. Files that
// cannot be read are logged and left out. The cache file is rewritten if
// anything changed.
//
// Watch scans by itself; a Scan called while Watch runs returns its changes
// to its own caller only.
func (ix *Index) Scan(ctx context.Context) (Change, error) {
	ix.updMu.Lock()
	defer ix.updMu.Unlock()
	c, err := ix.scan(ctx, nil)
	if err != nil {
		return Change{}, err
	}
	ix.saveIfDirty()
	return c, nil
}

// found is a regular file seen by walk.
type found struct {
	name string
	key  fileKey
	id   fileID
}

// scan is Scan without saving the cache; the caller holds ix.updMu.
//
// A file that must be hashed but is open for writing (see beingWritten) is
// not complete: it is left out. With fresh set (Watch does), such a file,
// and one that changed less than Settle ago, is passed to fresh instead: it
// may still be being written, and hashing it now could report a partial
// file.
func (ix *Index) scan(ctx context.Context, fresh func(name string, k fileKey)) (Change, error) {
	start := time.Now().UnixNano()
	var files []found
	err := ix.walk(ctx, "", func(name string, fi fs.FileInfo) {
		files = append(files, found{name, keyOf(fi), idOf(fi)})
	}, nil)
	if err != nil {
		return Change{}, err
	}
	next := make(map[string]*record, len(files))
	var todo []found
	// wait leaves f to the watcher.
	wait := func(f found) {
		fresh(f.name, f.key)
		// Keep what the index holds for the name, with the same key,
		// until the watcher has looked again: Watch starting right after
		// a Scan must not unpublish a file that was written moments
		// before and is still unchanged.
		if cur := ix.entries[f.name]; cur != nil && cur.key == f.key {
			next[f.name] = cur
		}
	}
	ix.mu.RLock()
	for _, f := range files {
		if r := ix.lookup(f.name, f.key); r != nil {
			next[f.name] = r
		} else if fresh != nil && start-f.key.changed() < int64(ix.opts.Settle) {
			wait(f)
		} else {
			todo = append(todo, f)
		}
	}
	ix.mu.RUnlock()
	if len(todo) > 0 {
		ids := make(map[string]fileID, len(todo))
		for _, f := range todo {
			ids[f.name] = f.id
		}
		if open := ix.beingWritten(ids); len(open) > 0 {
			ix.mu.RLock()
			todo = slices.DeleteFunc(todo, func(f found) bool {
				if open[f.name] && fresh != nil {
					wait(f)
				}
				return open[f.name]
			})
			ix.mu.RUnlock()
		}
	}

	recs, err := ix.hashAll(ctx, todo)
	if err != nil {
		return Change{}, err
	}
	for _, r := range recs {
		next[r.Name] = r
	}
	c := ix.replace(next)
	ix.log.Debug("scanned", "files", len(next), "hashed", len(todo), "added", len(c.Added), "removed", len(c.Removed))
	return c, nil
}

// hashAll hashes files on ix.opts.Workers goroutines and returns the records
// of those that could be read; the others are logged. Only a cancelled ctx
// is an error.
func (ix *Index) hashAll(ctx context.Context, files []found) ([]*record, error) {
	if len(files) == 0 {
		return nil, nil
	}
	recs := make([]*record, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(ix.opts.Workers, len(files)) {
		wg.Go(func() {
			for i := range work {
				r, err := ix.hashFile(ctx, files[i].name)
				if err != nil {
					switch {
					case ctx.Err() != nil:
					case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errChanged):
						// Deleted or being written: Watch, or the next
						// Scan, will see it again.
						ix.log.Debug("not indexed", "name", files[i].name, "error", err)
					default:
						ix.log.Warn("not indexed", "name", files[i].name, "error", err)
					}
					continue
				}
				recs[i] = r
			}
		})
	}
feed:
	for i := range files {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan %s: %w", ix.dir, err)
	}
	out := recs[:0]
	for _, r := range recs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// hashFile reads and hashes the regular file name. The key is taken from
// the open file, before and after reading: if they differ the file was being
// written and errChanged is returned.
func (ix *Index) hashFile(ctx context.Context, name string) (*record, error) {
	f, err := ix.root.OpenFile(name, openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", name, err)
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("hash %s: %w", name, errNotRegular)
	}
	start := time.Now().UnixNano()
	sum, err := pieces.Hash(ctxReader{ctx, f})
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", name, err)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", name, err)
	}
	k := keyOf(before)
	if keyOf(after) != k || sum.Size != k.Size {
		return nil, fmt.Errorf("hash %s: %w", name, errChanged)
	}
	ix.hashed.Add(1)
	return newRecord(name, k, sum, start), nil
}

// ctxReader stops reading once ctx is done, so that hashing a large file
// does not hold up shutdown.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads from the underlying reader unless ctx is done.
func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// walk visits the folder rel ("" for the shared folder) and everything
// shared below it: dir, if not nil, for each folder including rel, and file
// for each regular file. Symbolic links and other special files are skipped.
// A folder that cannot be read is logged and skipped, except rel itself.
func (ix *Index) walk(ctx context.Context, rel string, file func(name string, fi fs.FileInfo), dir func(name string)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", ix.dir, err)
	}
	open := rel
	if open == "" {
		open = "."
	}
	// Watch the folder before listing it: a file that arrives in between
	// (an upload renamed into a folder it just created) is then either
	// listed or reported by the watch. Listing first would miss it for
	// good.
	if dir != nil {
		dir(rel)
	}
	d, err := ix.root.Open(open)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	// Opened in a Root, ReadDir stats each entry relative to the open
	// folder (no path lookup, no link followed).
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("scan %s: %w", open, err)
	}
	for _, de := range ents {
		name := path.Join(rel, de.Name())
		isDir := de.IsDir()
		if why := ix.excluded(name, isDir); why != "" {
			ix.skipped(name, why)
			continue
		}
		switch {
		case isDir:
			if err := ix.walk(ctx, name, file, dir); err != nil {
				if ctx.Err() != nil {
					return err
				}
				ix.log.Warn("folder not indexed", "name", name, "error", err)
			}
		case de.Type().IsRegular():
			fi, err := de.Info()
			if err != nil {
				ix.log.Debug("skipped", "name", name, "error", err)
				continue
			}
			file(name, fi)
		default:
			ix.log.Debug("skipped", "name", name, "why", "not a regular file ("+de.Type().String()+")")
		}
	}
	return nil
}

// excluded says why the file or folder name (relative, slash-separated) is
// not shared, or "" if it is. A name that is not portable (sharepath.Check:
// a "\" or ":", a control or bidirectional formatting character, a segment
// over 255 bytes, not in NFC…) is not shared: another system could not store
// it, or would show it as another name. The reason then starts with
// notPortable.
func (ix *Index) excluded(name string, isDir bool) string {
	if err := sharepath.Check(name); err != nil {
		return notPortable + err.Error()
	}
	first, _, _ := strings.Cut(name, "/")
	if first == sharepath.StateDir ||
		(ix.stateRel != "" && (name == ix.stateRel || strings.HasPrefix(name, ix.stateRel+"/"))) {
		return "peerhub state"
	}
	if !isDir && (strings.HasSuffix(name, sharepath.PartialSuffix) || strings.HasSuffix(name, sharepath.StateSuffix)) {
		return "download in progress"
	}
	if !ix.opts.ShareHidden {
		for seg := range strings.SplitSeq(name, "/") {
			if strings.HasPrefix(seg, ".") {
				return "hidden"
			}
		}
	}
	return ""
}

// notPortable starts the reason excluded gives for a name sharepath.Check
// refuses.
const notPortable = "name not portable (rename it to share it): "

// skipped logs a file or folder that is not shared, and why: as a warning
// when its name is not portable, since its owner most likely meant to share
// it and has to rename it; else (hidden files, peerhub's own files) at debug
// level.
func (ix *Index) skipped(name, why string) {
	if strings.HasPrefix(why, notPortable) {
		ix.log.Warn("not shared", "name", name, "why", why)
		return
	}
	ix.log.Debug("skipped", "name", name, "why", why)
}
