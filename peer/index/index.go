// Package index owns the live index of a peer's shared folder: which files
// the peer shares, under which names, and their content and piece hashes
// (see internal/pieces).
//
// Open loads the hash cache, Scan walks the folder and hashes what changed
// since the cache was written, and Watch keeps the index current from
// filesystem notifications, reporting each change once the file is complete.
// Lookups (Snapshot, ByName, BySHA256) are safe while Watch runs.
//
// What is shared: regular files under Options.Dir whose relative name passes
// sharepath.Check. Never shared: the state folder (.peerhub and
// Options.StateDir), the downloader's partial and state files
// (sharepath.PartialSuffix, sharepath.StateSuffix), dotfiles and
// dot-folders unless Options.ShareHidden, and symbolic links. Symbolic links
// are skipped even when they point inside the folder: following them would
// list one content under two names and, for links to folders, could loop.
// All file access goes through an os.Root on the folder, so not even a race
// that swaps a file for a link can make the index read outside it.
package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
)

// DefaultSettle is how long a file must stay unchanged (size, times, inode)
// and closed by every writer before Watch hashes and reports it, when
// Options.Settle is 0. Copying tools and downloaders often pause for a
// second or more between writes (a slow disk, a slow network); a shorter
// time publishes their files half-done.
const DefaultSettle = 3 * time.Second

// Entry is one shared file. Its piece size is pieces.Size.
type Entry struct {
	// Name is the file's path relative to the shared folder, with "/"
	// between folders; it passes sharepath.Check.
	Name string
	// Size is the file's length in bytes.
	Size int64
	// ModTime is the file's modification time.
	ModTime time.Time
	// SHA256 is the SHA-256 of the content, 64 lowercase hex digits.
	SHA256 string
	// PieceHashes are the SHA-256 hashes of the pieces, in order. The slice
	// is shared by every copy of the entry and must not be modified.
	PieceHashes [][32]byte
	// PieceRoot is pieces.Root(PieceHashes), 64 lowercase hex digits.
	PieceRoot string
}

// equal reports whether e and o describe the same file version.
func (e *Entry) equal(o *Entry) bool {
	return e.Name == o.Name && e.Size == o.Size && e.ModTime.Equal(o.ModTime) &&
		e.SHA256 == o.SHA256 && e.PieceRoot == o.PieceRoot
}

// Options configures Open.
type Options struct {
	// Dir is the shared folder.
	Dir string
	// StateDir holds the hash cache; default Dir/.peerhub. It is never
	// shared, wherever it is.
	StateDir string
	// ShareHidden shares dotfiles and files in dot-folders, which are
	// skipped by default. The .peerhub folder is skipped regardless.
	ShareHidden bool
	// Workers is how many files are hashed at once; default GOMAXPROCS.
	Workers int
	// Settle is how long a file must stay unchanged and closed by every
	// writer before Watch hashes and reports it; default DefaultSettle.
	Settle time.Duration
	// Logger receives what the index skips or fails to read; default
	// slog.Default().
	Logger *slog.Logger
}

// Change is what changed in the index. A name appears at most once: in
// Added when the file is new or its content or modification time changed
// (the entry replaces any earlier one of that name), in Removed when the file
// is no longer shared (deleted, renamed away, or unreadable). Both lists are
// sorted by name.
type Change struct {
	// Added are the new or changed entries.
	Added []Entry
	// Removed are the names of the entries that went away.
	Removed []string
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool { return len(c.Added) == 0 && len(c.Removed) == 0 }

// fileKey identifies a version of a file without reading it. A cached hash
// is reused for the same name only when the whole key is the same: size,
// modification time, status change time and inode. The status change time
// (ctime) is what no user tool can set: `cp -p`, `rsync -t` or os.Chtimes
// restore the modification time of a file rewritten in place, but each of
// their writes, and the restoring itself, moves its ctime to now. (A file
// replaced by a rename gets a new inode even when its size and times are
// equal.)
type fileKey struct {
	Size  int64
	MTime int64  // modification time, ns since the Unix epoch
	CTime int64  // status change time, ns since the Unix epoch; 0 where not read
	Ino   uint64 // 0 where the platform has no inode numbers
}

// inode returns k without its ctime: the key a file keeps when it is
// renamed or hard-linked, both of which move its ctime. Renames are matched
// on it, so a file rewritten in place with its modification time restored
// and then renamed keeps its old hashes under the new name; serving
// verifies every piece (peer/transfer) and re-indexes such a file at the
// first piece that does not match.
func (k fileKey) inode() fileKey {
	k.CTime = 0
	return k
}

// changed returns when the file last changed as far as k tells, ns since
// the Unix epoch: its ctime, which a restored modification time cannot move
// back, where known.
func (k fileKey) changed() int64 { return max(k.MTime, k.CTime) }

// record is an entry with what is needed to decide whether its hashes can
// be reused.
type record struct {
	Entry
	key fileKey
	// hashedAt is when hashing started, ns since the Unix epoch; see
	// RacyWindow.
	hashedAt int64
}

// RacyWindow protects against a write that lands in the same timestamp tick
// as the version that was hashed: such a write leaves size and times as
// they were, so the key cannot tell. A hash is reused only if the file last
// changed (fileKey.changed) at least RacyWindow before the moment hashing
// started; otherwise the file is hashed again at the next opportunity. Filesystem timestamps lag
// the wall clock by at most a scheduler tick (≤ 10 ms) on Linux; 100 ms
// leaves room. (Coarser filesystems such as FAT's 2 s are not covered.)
const RacyWindow = 100 * time.Millisecond

// trusted reports whether r's hashes may be reused for a file whose key is
// r.key.
func (r *record) trusted() bool {
	return r.hashedAt-r.key.changed() > int64(RacyWindow)
}

// renamed returns r for a file renamed or hard-linked to name whose key is
// now k (r.key but for the ctime the rename moved). The hashes are vouched
// for from now on, under k.
func (r *record) renamed(name string, k fileKey) *record {
	c := *r
	c.Name, c.key, c.hashedAt = name, k, time.Now().UnixNano()
	return &c
}

// Index is the live index of one shared folder. Its methods are safe for
// concurrent use.
type Index struct {
	dir      string // absolute
	stateDir string // absolute
	stateRel string // StateDir relative to dir, slash-separated; "" if outside
	opts     Options
	log      *slog.Logger
	root     *os.Root
	hashed   atomic.Int64

	// updMu serializes the changes to the index (Scan, the watcher) and the
	// cache writes, so that each sees the result of the one before.
	updMu      sync.Mutex
	dirty      bool // the cache file is behind entries; guarded by updMu
	saveFailed bool // a cache write failed before; guarded by updMu

	mu      sync.RWMutex
	entries map[string]*record
	bySHA   map[string][]*record // by Entry.SHA256
	byKey   map[fileKey]*record  // by key.inode(), for renames; only keys with an inode
	// removed holds records Watch removed, by key.inode(), so that a file renamed
	// within the folder keeps its hashes even when the old name's removal is
	// handled before the new name appears. Only keys with an inode; emptied
	// by each Scan and when it grows past maxRemoved.
	removed map[fileKey]*record
	// cached holds the hash cache read at Open until the first Scan has
	// checked it against the folder; it is not shared before that.
	cached      map[string]*record
	cachedByKey map[fileKey]*record
	// invalid are the names Reindex dropped, for the watcher.
	invalid []string
	// recheck wakes the watcher after Reindex; it holds one element at
	// most.
	recheck chan struct{}
}

// Open opens the shared folder o.Dir and loads the hash cache from
// o.StateDir. A missing, unreadable or corrupt cache is logged and ignored;
// it only costs hashing again. The index is empty until Scan or Watch runs.
func Open(ctx context.Context, o Options) (*Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	if o.Dir == "" {
		return nil, errors.New("open index: no folder given")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", o.Dir, err)
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(dir, sharepath.StateDir)
	}
	stateDir, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("open index: state folder %s: %w", o.StateDir, err)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ix := &Index{
		dir:      dir,
		stateDir: stateDir,
		opts:     o,
		log:      o.Logger.With("dir", dir),
		entries:  map[string]*record{},
		bySHA:    map[string][]*record{},
		byKey:    map[fileKey]*record{},
		removed:  map[fileKey]*record{},
		recheck:  make(chan struct{}, 1),
	}
	if rel, err := filepath.Rel(dir, stateDir); err == nil {
		switch rel = filepath.ToSlash(rel); {
		case rel == ".":
			return nil, fmt.Errorf("open index %s: the state folder must not be the shared folder", dir)
		case rel != ".." && !strings.HasPrefix(rel, "../"):
			ix.stateRel = rel
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	ix.root = root
	ix.cached, ix.cachedByKey = ix.loadCache()
	return ix, nil
}

// Close saves the hash cache if it is behind and releases the folder. Call
// it after Watch has returned.
func (ix *Index) Close() error {
	ix.updMu.Lock()
	ix.saveIfDirty()
	ix.updMu.Unlock()
	if err := ix.root.Close(); err != nil {
		return fmt.Errorf("close index %s: %w", ix.dir, err)
	}
	return nil
}

// Root returns the os.Root on the shared folder, through which the transfer
// service opens files without ever leaving the folder. It is closed by
// Close.
func (ix *Index) Root() *os.Root { return ix.root }

// Dir returns the absolute path of the shared folder.
func (ix *Index) Dir() string { return ix.dir }

// Hashed returns how many files were hashed since Open; files whose hashes
// came from the cache do not count.
func (ix *Index) Hashed() int64 { return ix.hashed.Load() }

// Snapshot returns every entry, sorted by name.
func (ix *Index) Snapshot() []Entry {
	ix.mu.RLock()
	out := make([]Entry, 0, len(ix.entries))
	for _, r := range ix.entries {
		out = append(out, r.Entry)
	}
	ix.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ByName returns the entry named name.
func (ix *Index) ByName(name string) (Entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	r, ok := ix.entries[name]
	if !ok {
		return Entry{}, false
	}
	return r.Entry, true
}

// BySHA256 returns every entry whose content has the SHA-256 sum (hex,
// either case), sorted by name: the same content may be shared under several
// names.
func (ix *Index) BySHA256(sum string) ([]Entry, bool) {
	sum = strings.ToLower(sum)
	ix.mu.RLock()
	rs := ix.bySHA[sum]
	out := make([]Entry, len(rs))
	for i, r := range rs {
		out[i] = r.Entry
	}
	ix.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, len(out) > 0
}

// lookup returns a record whose hashes are valid for the file name with
// key k, from the index or the cache: under its own name with the same key,
// or under another name with the same key but for the ctime (renamed or
// hard-linked: see fileKey.inode); nil if the file must be hashed. The
// caller holds ix.mu.
func (ix *Index) lookup(name string, k fileKey) *record {
	for _, m := range []map[string]*record{ix.entries, ix.cached} {
		if r := m[name]; r != nil && r.key == k && r.trusted() {
			return r
		}
	}
	if k.Ino == 0 {
		return nil
	}
	// Only a file that came from another name: under its own name, a
	// new ctime means new content may have been written.
	for _, m := range []map[fileKey]*record{ix.byKey, ix.cachedByKey, ix.removed} {
		if r := m[k.inode()]; r != nil && r.Name != name && r.trusted() {
			return r.renamed(name, k)
		}
	}
	return nil
}

// add indexes r; the caller holds ix.mu and has removed any record of the
// same name.
func (ix *Index) add(r *record) {
	ix.entries[r.Name] = r
	ix.bySHA[r.SHA256] = append(ix.bySHA[r.SHA256], r)
	if r.key.Ino != 0 {
		ix.byKey[r.key.inode()] = r
	}
}

// remove unindexes r; the caller holds ix.mu.
func (ix *Index) remove(r *record) {
	delete(ix.entries, r.Name)
	rs := slices.DeleteFunc(ix.bySHA[r.SHA256], func(o *record) bool { return o == r })
	if len(rs) == 0 {
		delete(ix.bySHA, r.SHA256)
	} else {
		ix.bySHA[r.SHA256] = rs
	}
	if ix.byKey[r.key.inode()] == r {
		delete(ix.byKey, r.key.inode())
	}
}

// maxRemoved bounds Index.removed, in records.
const maxRemoved = 1 << 17

// forget removes r from the index, keeping it in ix.removed for renames;
// the caller holds ix.mu.
func (ix *Index) forget(r *record) {
	ix.remove(r)
	if r.key.Ino == 0 {
		return
	}
	if len(ix.removed) >= maxRemoved {
		clear(ix.removed)
	}
	ix.removed[r.key.inode()] = r
}

// replace makes next the whole index and returns the change from before;
// the caller holds ix.updMu.
func (ix *Index) replace(next map[string]*record) Change {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var c Change
	for name := range ix.entries {
		if _, ok := next[name]; !ok {
			c.Removed = append(c.Removed, name)
			ix.dirty = true
		}
	}
	for name, r := range next {
		old := ix.entries[name]
		if old == nil || !old.equal(&r.Entry) {
			c.Added = append(c.Added, r.Entry)
		}
		if old != r {
			ix.dirty = true
		}
		ix.logReindexed(old, r)
	}
	ix.entries = map[string]*record{}
	ix.bySHA = map[string][]*record{}
	ix.byKey = map[fileKey]*record{}
	clear(ix.removed)
	for _, r := range next {
		ix.add(r)
	}
	if ix.cached != nil {
		ix.cached, ix.cachedByKey = nil, nil
		ix.dirty = true
	}
	sortChange(&c)
	return c
}

// removal is a name that Watch found gone.
type removal struct {
	name string
	// tree says the name no longer exists, so entries under name/ (it was a
	// folder) go too; otherwise it exists but is not a regular file.
	tree bool
}

// update applies the watcher's findings and returns the change; the caller
// holds ix.updMu.
func (ix *Index) update(ups []*record, gone []removal) Change {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var c Change
	for _, g := range gone {
		if r := ix.entries[g.name]; r != nil {
			ix.forget(r)
			c.Removed = append(c.Removed, g.name)
			continue
		}
		if !g.tree {
			continue
		}
		prefix := g.name + "/"
		for name, r := range ix.entries {
			if strings.HasPrefix(name, prefix) {
				ix.forget(r)
				c.Removed = append(c.Removed, name)
			}
		}
	}
	for _, r := range ups {
		old := ix.entries[r.Name]
		if old == r {
			continue
		}
		if old != nil {
			ix.remove(old)
		}
		ix.add(r)
		ix.dirty = true
		if old == nil || !old.equal(&r.Entry) {
			c.Added = append(c.Added, r.Entry)
		}
		ix.logReindexed(old, r)
	}
	if len(c.Removed) > 0 {
		ix.dirty = true
	}
	sortChange(&c)
	return c
}

// logReindexed logs a file whose content changed under its name: the
// owner of the folder may wonder why a content they shared is gone.
func (ix *Index) logReindexed(old, r *record) {
	if old != nil && old.SHA256 != r.SHA256 {
		ix.log.Info("re-indexed a changed file", "name", r.Name, "old_sha256", old.SHA256, "sha256", r.SHA256)
	}
}

// sortChange sorts both lists of c by name.
func sortChange(c *Change) {
	slices.SortFunc(c.Added, func(a, b Entry) int { return cmp.Compare(a.Name, b.Name) })
	slices.Sort(c.Removed)
}

// newRecord builds the record of file name with key k from its hashes.
func newRecord(name string, k fileKey, s pieces.Sum, hashedAt int64) *record {
	return &record{
		Entry: Entry{
			Name:        name,
			Size:        s.Size,
			ModTime:     time.Unix(0, k.MTime),
			SHA256:      pieces.Hex(s.SHA256),
			PieceHashes: s.Pieces,
			PieceRoot:   pieces.Hex(s.Root),
		},
		key:      k,
		hashedAt: hashedAt,
	}
}
