// Package liveindex answers the store's Search from memory: a store.Store
// that wraps the directory's store (SQLite or PostgreSQL), keeps a copy of
// its peer sessions and their files with a trigram and a hash index, and
// passes every other call through. The wrapped store stays the source of
// truth: the copy is only ever reloaded from it.
//
// Why: a name or hash search in SQLite cost the directory about twice the
// CPU of a trivial call (the pure-Go SQLite engine, and the deep stacks it
// grows), and the goal is at most twice; answering from memory
// takes a few microseconds.
//
// How fresh the copy is:
//   - A change made through this Store (a login, a logout, a publish, a
//     heartbeat, a pin, an expired or removed session) is seen by every
//     search that starts after the call returned: writes mark the copy
//     stale, and a search reloads what changed first.
//   - A change made by another replica on the same database is seen
//     within Options.MaxAge: a search reloads first when the copy is
//     older.
//   - Time needs no reload: liveness is decided at each search from the
//     session's expiry and the search's "now", as the stores do.
//
// A reload reads the list of peer sessions (Store.PeerSessions) and the
// files of only those sessions whose files version moved
// (Store.SessionFiles), so its cost follows the number of peers and of
// changed files, not the size of the index; after a publish through this
// Store, only the publishing session's files are read. Results, their order, pages and
// page tokens are the wrapped store's own (the conformance suite runs
// against this Store too). Hash-prefix queries and name queries shorter than
// a trigram go to the wrapped store, which answers them by its own indexes.
package liveindex

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
)

// DefaultMaxAge is how long, at most, a search uses the copy before it
// reloads what other replicas changed: the time a directory also trusts a
// session it read as live (directory.SessionRecheck).
const DefaultMaxAge = time.Second

// Options configure a Store.
type Options struct {
	// Tokens is the wrapped store's page-token format, so that the pages
	// of a search answered here and by the wrapped store continue each
	// other.
	Tokens pagetoken.Format
	// MaxAge bounds how long a change made by another replica stays
	// unseen; 0 means DefaultMaxAge.
	MaxAge time.Duration
}

// Store is a store.Store whose Search reads an in-memory copy of the
// wrapped store's peer sessions and files. It is safe for concurrent use.
type Store struct {
	st     store.Store
	tokens pagetoken.Format
	maxAge time.Duration
	epoch  time.Time // the monotonic clock's origin for loadedAt

	// wanted counts the changes made through this Store; loaded is the
	// count the copy includes (read before the reload that made it).
	wanted atomic.Uint64
	loaded atomic.Uint64
	// wholeWanted and wholeLoaded count the changes that need a whole
	// reload (all but publishes) in the same way.
	wholeWanted atomic.Uint64
	wholeLoaded atomic.Uint64
	// published are the sessions whose files changed through this Store
	// since the last reload: a publish reloads only its session's files,
	// not the list of every session.
	publishedMu sync.Mutex
	published   map[string]bool
	// loadedAt is when the last reload started, in nanoseconds since
	// epoch.
	loadedAt atomic.Int64
	// reloading serializes reloads: one at a time, the others wait and
	// use its result.
	reloading sync.Mutex

	// mu guards ix: searches read it, reloads change it.
	mu sync.RWMutex
	ix *index
}

var _ store.Store = (*Store)(nil)

// New wraps st, which the Store closes with its own Close. The copy is
// loaded by the first search.
func New(st store.Store, opts Options) *Store {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	s := &Store{st: st, tokens: opts.Tokens, maxAge: opts.MaxAge, epoch: time.Now(), ix: newIndex()}
	// Nothing loaded yet.
	s.wanted.Store(1)
	s.wholeWanted.Store(1)
	return s
}

// changed records a change made through this Store, after the call that
// made it returned: the next search reloads first. Calls that failed are
// counted too, since a failure may come after the commit (a cancelled
// context).
func (s *Store) changed() {
	s.wholeWanted.Add(1)
	s.wanted.Add(1)
}

// changedFiles records a publish of session id, as changed does, for a
// reload of that session's files only. The session is noted before the
// change is counted, so that a reload that counted it finds it noted.
func (s *Store) changedFiles(id string) {
	s.publishedMu.Lock()
	if s.published == nil {
		s.published = make(map[string]bool)
	}
	s.published[id] = true
	s.publishedMu.Unlock()
	s.wanted.Add(1)
}

// Calls that may change what Search returns: they mark the copy stale.

// DeleteAccount implements store.Store: the account's sessions end.
func (s *Store) DeleteAccount(ctx context.Context, name string, now time.Time) error {
	defer s.changed()
	return s.st.DeleteAccount(ctx, name, now)
}

// CreateSession implements store.Store: a new peer, a replaced one, a pin.
func (s *Store) CreateSession(ctx context.Context, ss store.Session, maxSessions int, now time.Time) error {
	defer s.changed()
	return s.st.CreateSession(ctx, ss, maxSessions, now)
}

// TouchSession implements store.Store: a heartbeat moves the session's
// last-seen time and expiry, which the copy takes from the result, with
// no reload.
func (s *Store) TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	ss, err := s.st.TouchSession(ctx, id, now, expiresAt)
	if err == nil {
		s.mu.RLock()
		s.ix.touch(ss)
		s.mu.RUnlock()
	}
	return ss, err
}

// DeleteSession implements store.Store: a logout.
func (s *Store) DeleteSession(ctx context.Context, id string, now time.Time) error {
	defer s.changed()
	return s.st.DeleteSession(ctx, id, now)
}

// ReapExpired implements store.Store: expired sessions go (already
// invisible by time; the reload frees their files).
func (s *Store) ReapExpired(ctx context.Context, now time.Time) (int, error) {
	defer s.changed()
	return s.st.ReapExpired(ctx, now)
}

// BindPeerPin implements store.Store: sources carry their pins.
func (s *Store) BindPeerPin(ctx context.Context, name, pin string, now time.Time) (string, error) {
	defer s.changed()
	return s.st.BindPeerPin(ctx, name, pin, now)
}

// ReleasePeerName implements store.Store: the name's pin goes with it.
func (s *Store) ReleasePeerName(ctx context.Context, name, owner string, force bool, now time.Time) error {
	defer s.changed()
	return s.st.ReleasePeerName(ctx, name, owner, force, now)
}

// ReplaceFiles implements store.Store: a publish.
func (s *Store) ReplaceFiles(ctx context.Context, sessionID string, files []store.File, limits store.FileLimits, now time.Time) (int64, error) {
	defer s.changedFiles(sessionID)
	return s.st.ReplaceFiles(ctx, sessionID, files, limits, now)
}

// ApplyDelta implements store.Store: a publish.
func (s *Store) ApplyDelta(ctx context.Context, sessionID string, added []store.File, removed []string, limits store.FileLimits, now time.Time) (int64, error) {
	defer s.changedFiles(sessionID)
	return s.st.ApplyDelta(ctx, sessionID, added, removed, limits, now)
}

// Calls that cannot change what Search returns pass through. Each is
// written out rather than embedded, so that a method added to store.Store
// does not compile here until someone decides which kind it is.

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	return s.st.CreateAccount(ctx, a)
}

// GetAccount implements store.Store.
func (s *Store) GetAccount(ctx context.Context, name string) (store.Account, error) {
	return s.st.GetAccount(ctx, name)
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return s.st.ListAccounts(ctx)
}

// SigningKeys implements store.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return s.st.SigningKeys(ctx)
}

// AddSigningKey implements store.Store.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.st.AddSigningKey(ctx, k)
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	return s.st.GetSession(ctx, id, now)
}

// PeerSession implements store.Store.
func (s *Store) PeerSession(ctx context.Context, name string, now time.Time) (store.Session, error) {
	return s.st.PeerSession(ctx, name, now)
}

// PeerPins implements store.Store.
func (s *Store) PeerPins(ctx context.Context, names []string) (map[string]store.PeerPin, error) {
	return s.st.PeerPins(ctx, names)
}

// PeerNameOwner implements store.Store.
func (s *Store) PeerNameOwner(ctx context.Context, name string) (string, error) {
	return s.st.PeerNameOwner(ctx, name)
}

// RevokedSessions implements store.Store.
func (s *Store) RevokedSessions(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	return s.st.RevokedSessions(ctx, since)
}

// ForgetRevocations implements store.Store.
func (s *Store) ForgetRevocations(ctx context.Context, before time.Time) (int, error) {
	return s.st.ForgetRevocations(ctx, before)
}

// ListPeers implements store.Store.
func (s *Store) ListPeers(ctx context.Context, p store.Page, now time.Time) ([]store.Peer, string, error) {
	return s.st.ListPeers(ctx, p, now)
}

// ListFiles implements store.Store.
func (s *Store) ListFiles(ctx context.Context, peer string, p store.Page, now time.Time) ([]store.PeerFile, string, error) {
	return s.st.ListFiles(ctx, peer, p, now)
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	return s.st.Stats(ctx, now)
}

// PeerSessions implements store.Store.
func (s *Store) PeerSessions(ctx context.Context) ([]store.IndexedPeer, error) {
	return s.st.PeerSessions(ctx)
}

// SessionFiles implements store.Store.
func (s *Store) SessionFiles(ctx context.Context, id string) ([]store.IndexedFile, int64, error) {
	return s.st.SessionFiles(ctx, id)
}

// Close implements store.Store: it closes the wrapped store.
func (s *Store) Close() error { return s.st.Close() }
