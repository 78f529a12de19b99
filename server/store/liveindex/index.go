package liveindex

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
	"github.com/peerhub/peerhub/server/store/trigram"
)

// compactAt is how many dead entries, at least, the posting lists may hold
// before they are rewritten without them (and then only if they are as many
// as the live ones): removing an entry only marks it, so that a peer
// leaving costs its own files, not a pass over every list.
const compactAt = 4096

// peer is one peer session of the copy.
type peer struct {
	id       string
	username string
	name     string // the peer name
	address  string
	pin      string // written under Store.mu's write lock
	version  int64  // the files version its files are from
	files    map[int64]*entry
	// lastSeen and expires are Unix nanoseconds (sqlstore.Nanos), moved
	// by heartbeats under Store.mu's read lock, hence atomic; they only
	// ever grow, as in the store (TouchSession never moves them back).
	lastSeen atomic.Int64
	expires  atomic.Int64
}

// liveAt tells whether the session is live at now (Unix nanoseconds), as
// the stores decide it: expires_at > now.
func (p *peer) liveAt(now int64) bool { return p.expires.Load() > now }

// advance moves the session's times forward to ss's, never back.
func (p *peer) advance(ss store.Session) {
	maxInto(&p.lastSeen, sqlstore.Nanos(ss.LastSeen))
	maxInto(&p.expires, sqlstore.Nanos(ss.ExpiresAt))
}

// maxInto stores v in a if it is larger.
func maxInto(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// entry is one file of one peer.
type entry struct {
	id      int64
	name    string
	lower   string // sqlstore.Lower(name), what queries match
	content sqlstore.Content
	peer    *peer
	// dead marks an entry removed from its peer but still in posting
	// lists until the next compaction; written under Store.mu's write
	// lock.
	dead bool
}

// index is the copy: the peer sessions, and their files' entries by
// trigram of the lowered name and by SHA-256, each list in id order (the
// order of search results and pages).
type index struct {
	peers  map[string]*peer // by session id
	tris   map[string][]*entry
	hashes map[string][]*entry
	live   int // entries in use
	dead   int // entries marked dead, still in the lists
	// added are the entries a change adds, put in the lists in id order
	// when it settles, so that the lists seldom need sorting; unsorted
	// are the lists that do (an id below their last), sorted then.
	added    []*entry
	unsorted map[listKey]bool
	// seen is add's scratch set of one name's trigrams.
	seen map[string]bool
}

// listKey names one posting list: of a trigram, or of a hash.
type listKey struct {
	hash bool
	key  string
}

// list returns the map holding k's list.
func (ix *index) lists(k listKey) map[string][]*entry {
	if k.hash {
		return ix.hashes
	}
	return ix.tris
}

func newIndex() *index {
	return &index{
		peers:  make(map[string]*peer),
		tris:   make(map[string][]*entry),
		hashes: make(map[string][]*entry),
	}
}

// touch applies a heartbeat's result to its session, if the copy has it
// (a session it has not loaded yet is read with its new times by the next
// reload). Called under Store.mu's read lock.
func (ix *index) touch(ss store.Session) {
	if p := ix.peers[ss.ID]; p != nil {
		p.advance(ss)
	}
}

// loadedFiles are the files of one session read by a reload.
type loadedFiles struct {
	files   []store.IndexedFile
	version int64
	gone    bool // the session ended between the two reads
}

// apply makes the copy hold exactly the sessions of list, with the files
// loaded for those whose version moved. Called under Store.mu's write
// lock.
func (ix *index) apply(list []store.IndexedPeer, loaded map[string]loadedFiles) {
	keep := make(map[string]bool, len(list))
	for _, ip := range list {
		if l, ok := loaded[ip.Session.ID]; ok && l.gone {
			continue
		}
		keep[ip.Session.ID] = true
	}
	for id, p := range ix.peers {
		if !keep[id] {
			ix.drop(p)
		}
	}
	ix.unsorted = make(map[listKey]bool)
	for _, ip := range list {
		ss := ip.Session
		if !keep[ss.ID] {
			continue
		}
		p := ix.peers[ss.ID]
		if p == nil {
			p = &peer{id: ss.ID, username: ss.Username, name: ss.PeerName, address: ss.Address,
				version: -1, files: map[int64]*entry{}}
			ix.peers[ss.ID] = p
		}
		p.pin = ip.Pin
		p.advance(ss)
		if l, ok := loaded[ss.ID]; ok {
			ix.setFiles(p, l.files, l.version)
		}
	}
	ix.settle()
}

// applyFiles sets the files of sessions the copy holds, as loaded by a
// reload of their files only; a session gone from the store is dropped.
// Called under Store.mu's write lock.
func (ix *index) applyFiles(loaded map[string]loadedFiles) {
	ix.unsorted = make(map[listKey]bool)
	for id, l := range loaded {
		p := ix.peers[id]
		switch {
		case p == nil:
		case l.gone:
			ix.drop(p)
		default:
			ix.setFiles(p, l.files, l.version)
		}
	}
	ix.settle()
}

// settle ends a change of the copy: it puts the change's new entries in
// the lists in id order, sorts the lists that still end up out of it, and
// compacts the lists once they hold more dead entries
// than live ones (and at least compactAt).
func (ix *index) settle() {
	slices.SortFunc(ix.added, func(a, b *entry) int { return cmp.Compare(a.id, b.id) })
	for _, e := range ix.added {
		ix.add(e)
	}
	ix.added = nil
	for k := range ix.unsorted {
		slices.SortFunc(ix.lists(k)[k.key], func(a, b *entry) int { return cmp.Compare(a.id, b.id) })
	}
	ix.unsorted = nil
	if ix.dead >= compactAt && ix.dead >= ix.live {
		ix.compact()
	}
}

// drop removes a session and its files.
func (ix *index) drop(p *peer) {
	for _, e := range p.files {
		ix.kill(e)
	}
	delete(ix.peers, p.id)
}

// setFiles makes files (of version) the session's: entries whose id and
// values did not change stay as they are (an update in place keeps its id
// but may change everything else, so it is a new entry).
func (ix *index) setFiles(p *peer, files []store.IndexedFile, version int64) {
	old := p.files
	cur := make(map[int64]*entry, len(files))
	for _, f := range files {
		c := sqlstore.Content{SHA256: f.File.SHA256, Size: f.File.Size, PieceSize: f.File.PieceSize, PieceRoot: f.File.PieceRoot}
		if e := old[f.ID]; e != nil && e.name == f.File.Name && e.content == c {
			cur[f.ID] = e
			delete(old, f.ID)
			continue
		}
		e := &entry{id: f.ID, name: f.File.Name, lower: sqlstore.Lower(f.File.Name), content: c, peer: p}
		cur[f.ID] = e
		ix.added = append(ix.added, e)
		ix.live++
	}
	for _, e := range old {
		ix.kill(e)
	}
	p.files, p.version = cur, version
}

// add puts e in the lists of its name's trigrams and of its hash.
func (ix *index) add(e *entry) {
	if ix.seen == nil {
		ix.seen = make(map[string]bool)
	}
	clear(ix.seen)
	for _, t := range trigram.All(e.lower) {
		if !ix.seen[t] {
			ix.seen[t] = true
			ix.appendTo(listKey{key: t}, e)
		}
	}
	ix.appendTo(listKey{hash: true, key: e.content.SHA256}, e)
}

// appendTo appends e to list k, noting the list if that breaks its id
// order (ids are not always handed out in commit order, and another
// replica's files may load after later ones).
func (ix *index) appendTo(k listKey, e *entry) {
	m := ix.lists(k)
	l := append(m[k.key], e)
	m[k.key] = l
	if n := len(l); n > 1 && l[n-2].id > e.id {
		ix.unsorted[k] = true
	}
}

// kill marks e removed.
func (ix *index) kill(e *entry) {
	if !e.dead {
		e.dead = true
		ix.live--
		ix.dead++
	}
}

// compact rewrites every list without its dead entries.
func (ix *index) compact() {
	for _, m := range []map[string][]*entry{ix.tris, ix.hashes} {
		for k, l := range m {
			l = slices.DeleteFunc(l, func(e *entry) bool { return e.dead })
			if len(l) == 0 {
				delete(m, k)
			} else {
				m[k] = slices.Clip(l)
			}
		}
	}
	ix.dead = 0
}
