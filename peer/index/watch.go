package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// saveDelay is how long the watcher lets cache updates accumulate before it
// rewrites the cache file, so that a burst of new files costs one write.
const saveDelay = time.Second

// Watch keeps the index current until ctx is done, then returns nil; it
// returns an error only if the folder cannot be watched at all.
//
// It watches every shared folder (adding watches for new ones as they
// appear), then scans the whole folder so that nothing that changed before
// the watches were in place is missed, and sends the scan's changes. After
// that it sends a Change for each batch of filesystem activity:
//
//   - a new or modified file in Added once it is complete, i.e. no process
//     holds it open for writing (on Linux; see openForWriting), its key
//     (size, times, inode) has not changed for Options.Settle, and it was
//     hashed (a file being written is never reported half-done unless its
//     writer closes it and pauses for longer than Settle);
//   - a file Reindex dropped in Removed at once, and in Added again once it
//     has settled and was hashed;
//   - a deleted file, or one renamed out of the folder, in Removed;
//   - a rename within the folder as the old name in Removed and the new one
//     in Added (without hashing again: the inode is the same).
//
// Changes not yet received are merged, so a slow receiver gets fewer,
// larger changes rather than holding up the watcher. The hash cache is kept
// up to date (written at most every second, and when Watch returns). If the
// kernel's event queue overflows, Watch scans the whole folder again. Only
// one Watch may run at a time on an Index.
func (ix *Index) Watch(ctx context.Context, changes chan<- Change) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", ix.dir, err)
	}
	defer fw.Close()
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{
		ix:      ix,
		fw:      fw,
		dirs:    map[string]bool{},
		pending: map[string]*pend{},
		jobs:    make(chan job),
		results: make(chan result),
		out:     outbox{added: map[string]Entry{}, removed: map[string]bool{}},
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		close(w.jobs)
		wg.Wait()
		ix.updMu.Lock()
		ix.saveIfDirty()
		ix.updMu.Unlock()
	}()
	for range ix.opts.Workers {
		wg.Go(func() { w.hash(ctx) })
	}

	if err := w.addTree(ctx, "", false); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch %s: %w", ix.dir, err)
	}
	if err := w.rescan(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch %s: %w", ix.dir, err)
	}
	return w.loop(ctx, changes)
}

// watcher is the state of one Watch call, owned by its loop goroutine.
type watcher struct {
	ix *Index
	fw *fsnotify.Watcher
	// dirs are the folders being watched, relative, "" for the root.
	dirs map[string]bool
	// pending are the names with recent activity, waiting to settle.
	pending map[string]*pend
	// queue are hash jobs not yet taken by a worker.
	queue   []job
	jobs    chan job
	results chan result
	out     outbox
	// saveAt is when the cache must be written; zero if it is up to date.
	saveAt time.Time
	// watchFailed is set once a folder could not be watched.
	watchFailed bool
}

// kind is what a name is on disk.
type kind uint8

// The kinds a name can be.
const (
	missing kind = iota
	regular
	folder
	other // symbolic link, FIFO, socket, device
)

// state is what a name was on disk at one Lstat; two equal states mean the
// name did not change in between.
type state struct {
	kind kind
	key  fileKey
}

// stateOf summarises an Lstat result.
func stateOf(fi fs.FileInfo, err error) state {
	switch {
	case err != nil:
		// Not found, or not reachable (a parent replaced by a link
		// leading out of the folder): either way, not shared.
		return state{kind: missing}
	case fi.Mode().IsRegular():
		return state{kind: regular, key: keyOf(fi)}
	case fi.IsDir():
		return state{kind: folder}
	default:
		return state{kind: other}
	}
}

// pend tracks one name with recent activity.
type pend struct {
	st    state     // at the last event or check
	since time.Time // of the last event or change of st
	gen   uint64    // counts events, to tell a stale hash result
	// hashing is set while a worker hashes the name.
	hashing bool
}

// job asks a worker to hash name; gen is the pend's gen when asked.
type job struct {
	name string
	gen  uint64
}

// result is a worker's answer to a job.
type result struct {
	job
	rec *record
	err error
}

// hash runs jobs until w.jobs is closed.
func (w *watcher) hash(ctx context.Context) {
	for j := range w.jobs {
		rec, err := w.ix.hashFile(ctx, j.name)
		select {
		case w.results <- result{j, rec, err}:
		case <-ctx.Done():
		}
	}
}

// loop handles events, settled names, hash results and the receiver until
// ctx is done.
func (w *watcher) loop(ctx context.Context, changes chan<- Change) error {
	settle := w.ix.opts.Settle
	tick := min(max(settle/4, 10*time.Millisecond), 100*time.Millisecond)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	ticking := true
	for {
		// Tick only while something is pending or a cache write is due.
		if want := len(w.pending) > 0 || !w.saveAt.IsZero(); want != ticking {
			if want {
				ticker.Reset(tick)
			} else {
				ticker.Stop()
			}
			ticking = want
		}
		var send chan<- Change
		var c Change
		if !w.out.empty() {
			send, c = changes, w.out.change()
		}
		var jobs chan<- job
		var next job
		if len(w.queue) > 0 {
			jobs, next = w.jobs, w.queue[0]
		}

		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return fmt.Errorf("watch %s: watcher closed", w.ix.dir)
			}
			w.event(ctx, ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return fmt.Errorf("watch %s: watcher closed", w.ix.dir)
			}
			w.watchError(ctx, err)
		case now := <-ticker.C:
			w.settle(now)
			if !w.saveAt.IsZero() && !now.Before(w.saveAt) {
				w.ix.updMu.Lock()
				w.ix.saveIfDirty()
				w.ix.updMu.Unlock()
				w.saveAt = time.Time{}
			}
		case r := <-w.results:
			w.result(r)
		case <-w.ix.recheck:
			w.reindex()
		case jobs <- next:
			w.queue = w.queue[1:]
		case send <- c:
			w.out.reset()
		}
	}
}

// rel turns an event's path into a name relative to the shared folder;
// false for the folder itself or a path outside it.
func (w *watcher) rel(p string) (string, bool) {
	r, ok := strings.CutPrefix(p, w.ix.dir+string(filepath.Separator))
	if !ok || r == "" {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// abs turns a relative name into the path given to fsnotify.
func (w *watcher) abs(name string) string {
	return filepath.Join(w.ix.dir, filepath.FromSlash(name))
}

// event records activity on one name.
func (w *watcher) event(ctx context.Context, ev fsnotify.Event) {
	name, ok := w.rel(ev.Name)
	if !ok {
		return
	}
	// A watched folder removed or renamed away: drop its watches now, or
	// they would follow the folder to its new place and report its files
	// under the old names.
	wasDir := w.dirs[name]
	if wasDir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.dropTree(name)
	}
	fi, err := w.ix.root.Lstat(name)
	st := stateOf(fi, err)
	isDir := st.kind == folder || (st.kind == missing && wasDir)
	if why := w.ix.excluded(name, isDir); why != "" {
		if ev.Has(fsnotify.Create) {
			// Once per new name, not for every write to it.
			w.ix.skipped(name, why)
		}
		return
	}
	if st.kind == folder && !w.dirs[name] {
		// A new folder, or one moved in: its content may predate the
		// watch, so everything in it becomes pending.
		if err := w.addTree(ctx, name, true); err != nil && ctx.Err() == nil {
			w.addFailed(name, err)
		}
	}
	w.touch(name, st, time.Now())
}

// touch marks name as active now, with its current state.
func (w *watcher) touch(name string, st state, now time.Time) {
	p := w.pending[name]
	if p == nil {
		p = &pend{}
		w.pending[name] = p
	}
	p.st, p.since = st, now
	p.gen++
}

// addTree watches the folder rel and every shared folder below it; with
// mark, every file found becomes pending. Only a failure to watch rel
// itself is an error.
func (w *watcher) addTree(ctx context.Context, rel string, mark bool) error {
	now := time.Now()
	var first error
	err := w.ix.walk(ctx, rel, func(name string, fi fs.FileInfo) {
		if mark {
			w.touch(name, stateOf(fi, nil), now)
		}
	}, func(name string) {
		if w.dirs[name] {
			return
		}
		if err := w.fw.Add(w.abs(name)); err != nil {
			if name == rel {
				first = err
			} else {
				w.addFailed(name, err)
			}
			return
		}
		w.dirs[name] = true
	})
	return cmp.Or(err, first)
}

// addFailed logs a folder that could not be watched: as a warning the first
// time, since it usually means the system's watch limit is reached
// (fs.inotify.max_user_watches on Linux) and would repeat for every folder.
// Changes there are seen only by the next full scan.
func (w *watcher) addFailed(name string, err error) {
	if w.watchFailed {
		w.ix.log.Debug("folder not watched", "name", name, "error", err)
		return
	}
	w.watchFailed = true
	w.ix.log.Warn("folder not watched; changes in it are seen only by a full scan", "name", name, "error", err)
}

// dropTree forgets the watches on folder rel and below.
func (w *watcher) dropTree(rel string) {
	prefix := rel + "/"
	for d := range w.dirs {
		if d == rel || strings.HasPrefix(d, prefix) {
			// Fails harmlessly when fsnotify already dropped it.
			_ = w.fw.Remove(w.abs(d))
			delete(w.dirs, d)
		}
	}
}

// watchError handles an error from fsnotify: after an overflow, events were
// lost, so the whole folder is scanned again.
func (w *watcher) watchError(ctx context.Context, err error) {
	if !errors.Is(err, fsnotify.ErrEventOverflow) {
		w.ix.log.Warn("watch", "error", err)
		return
	}
	w.ix.log.Warn("watch: events lost, scanning again", "error", err)
	if err := w.addTree(ctx, "", false); err != nil && ctx.Err() == nil {
		w.ix.log.Warn("watch", "error", err)
	}
	if err := w.rescan(ctx); err != nil && ctx.Err() == nil {
		w.ix.log.Warn("watch: scan", "error", err)
	}
}

// rescan scans the whole folder and queues its changes for the receiver.
// Files modified less than Settle ago become pending instead of being hashed
// at once.
func (w *watcher) rescan(ctx context.Context) error {
	now := time.Now()
	w.ix.updMu.Lock()
	c, err := w.ix.scan(ctx, func(name string, k fileKey) {
		w.touch(name, state{kind: regular, key: k}, now)
	})
	w.ix.saveIfDirty()
	w.ix.updMu.Unlock()
	if err != nil {
		return err
	}
	w.out.merge(c)
	return nil
}

// settle checks the pending names that have been quiet for Settle. A name
// whose state changed in the meantime waits again; a stable file is taken
// from the index or the cache if its key is known, else queued for hashing
// unless some process holds it open for writing (then it waits another
// Settle); a name that is gone, or no longer a regular file, is removed.
func (w *watcher) settle(now time.Time) {
	var ups []*record
	var gone []removal
	toHash := map[string]fileID{}
	for name, p := range w.pending {
		if p.hashing || now.Sub(p.since) < w.ix.opts.Settle {
			continue
		}
		fi, err := w.ix.root.Lstat(name)
		st := stateOf(fi, err)
		if st != p.st {
			p.st, p.since = st, now
			continue
		}
		if st.kind != regular {
			delete(w.pending, name)
			gone = append(gone, removal{name: name, tree: st.kind == missing})
			continue
		}
		w.ix.mu.RLock()
		r := w.ix.lookup(name, st.key)
		w.ix.mu.RUnlock()
		if r != nil {
			delete(w.pending, name)
			ups = append(ups, r)
			continue
		}
		toHash[name] = idOf(fi)
	}
	open := w.ix.beingWritten(toHash)
	for name := range toHash {
		p := w.pending[name]
		if open[name] {
			p.since = now
			continue
		}
		p.hashing = true
		w.queue = append(w.queue, job{name, p.gen})
	}
	w.apply(ups, gone)
}

// result handles a worker's hash of a pending name. The result is used only
// if nothing happened to the name since it was queued and the hashed version
// is the one that had settled; otherwise the name waits to settle again.
func (w *watcher) result(r result) {
	p := w.pending[r.name]
	if p == nil {
		return
	}
	p.hashing = false
	if p.gen != r.gen {
		return
	}
	switch {
	case errors.Is(r.err, errChanged) || (r.err == nil && r.rec.key != p.st.key):
		p.since = time.Now()
		return
	case r.err != nil:
		// Deleted, or unreadable: either way it cannot be shared.
		delete(w.pending, r.name)
		if !errors.Is(r.err, fs.ErrNotExist) {
			w.ix.log.Warn("not indexed", "name", r.name, "error", r.err)
		}
		w.apply(nil, []removal{{name: r.name}})
		return
	}
	delete(w.pending, r.name)
	w.apply([]*record{r.rec}, nil)
}

// apply updates the index and queues the change for the receiver.
func (w *watcher) apply(ups []*record, gone []removal) {
	if len(ups) == 0 && len(gone) == 0 {
		return
	}
	w.ix.updMu.Lock()
	c := w.ix.update(ups, gone)
	dirty := w.ix.dirty
	w.ix.updMu.Unlock()
	if dirty && w.saveAt.IsZero() {
		w.saveAt = time.Now().Add(saveDelay)
	}
	w.out.merge(c)
}
