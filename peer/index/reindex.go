package index

import (
	"time"
)

// Reindex is told, by whoever serves the file name, that it no longer holds
// the content sha256 (hex) it is indexed with: a piece read from it did not
// match its hash. why says what was seen, for the log.
//
// The entry goes at once, so the file is neither served nor found under
// that content any more, and its record is forgotten everywhere it could be
// reused from (by name, by inode for renames, the hash cache), so the file
// is hashed again whatever its key says. A running Watch then reports the
// removal, hashes the file once it has settled, and reports its new entry;
// without Watch, the next Scan does. It reports whether the entry was still
// there (a second call for the same change does nothing).
func (ix *Index) Reindex(name, sha256 string, why error) bool {
	ix.mu.Lock()
	r := ix.entries[name]
	if r == nil || r.SHA256 != sha256 {
		ix.mu.Unlock()
		return false
	}
	ix.remove(r)
	for k, o := range ix.removed {
		if o.Name == name || o.key.inode() == r.key.inode() {
			delete(ix.removed, k)
		}
	}
	if ix.cached != nil {
		delete(ix.cached, name)
		delete(ix.cachedByKey, r.key.inode())
	}
	ix.invalid = append(ix.invalid, name)
	ix.mu.Unlock()
	ix.log.Warn("shared file no longer matches its indexed content; unpublishing and re-indexing it",
		"name", name, "sha256", sha256, "error", why)
	select {
	case ix.recheck <- struct{}{}:
	default:
	}
	return true
}

// takeInvalid returns and forgets the names Reindex dropped since the last
// call.
func (ix *Index) takeInvalid() []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	names := ix.invalid
	ix.invalid = nil
	return names
}

// reindex handles the names Reindex dropped: their removal goes to the
// receiver, the cache file is rewritten without them, and each waits to
// settle to be hashed again.
func (w *watcher) reindex() {
	names := w.ix.takeInvalid()
	if len(names) == 0 {
		return
	}
	w.ix.updMu.Lock()
	w.ix.dirty = true
	w.ix.updMu.Unlock()
	if w.saveAt.IsZero() {
		w.saveAt = time.Now().Add(saveDelay)
	}
	now := time.Now()
	for _, name := range names {
		w.out.merge(Change{Removed: []string{name}})
		fi, err := w.ix.root.Lstat(name)
		w.touch(name, stateOf(fi, err), now)
	}
}
