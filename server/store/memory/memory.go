// Package memory owns an in-memory implementation of store.Store for
// throwaway runs and tests: every state lives in maps behind one mutex and is
// lost on exit.
//
// It keeps a per-content index so hash lookups are direct; a name search
// scans the live index (it has no substring index), which is fine at the
// sizes a throwaway directory sees.
package memory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
)

// Store is a mutex-protected in-memory store.Store. The zero value is not
// usable; call New.
type Store struct {
	mu       sync.RWMutex
	accounts map[string]store.Account
	keys     []store.SigningKey // insertion order
	sessions map[string]*session
	// peers maps a peer name to the peer session holding it, live or
	// expired-but-not-reaped: at most one peer session owns a name, which
	// CreateSession enforces.
	peers map[string]*session
	// bySHA indexes every file entry (of any session) by content hash.
	bySHA map[string]map[*entry]struct{}
	// order holds every entry in insertion (seq) order, for name search:
	// a page scans it from the token on and stops once it is full.
	// Removed entries stay, marked, until they are the majority.
	order   []*entry
	removed int
	seq     uint64
}

// session is one session and its files.
type session struct {
	s     store.Session
	files map[string]*entry // by name
}

// entry is one published file, with its lowered name precomputed so that a
// search does not lowercase a million names.
type entry struct {
	f       store.File
	lower   string
	sess    *session
	seq     uint64 // insertion order, the search order
	removed bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		accounts: make(map[string]store.Account),
		sessions: make(map[string]*session),
		peers:    make(map[string]*session),
		bySHA:    make(map[string]map[*entry]struct{}),
	}
}

// live reports whether a session is visible at now.
func live(s *session, now time.Time) bool { return s.s.ExpiresAt.After(now) }

// livePeer reports whether a session is a peer session visible at now.
func livePeer(s *session, now time.Time) bool { return s.s.IsPeer() && live(s, now) }

// CreateAccount implements store.Store.
func (m *Store) CreateAccount(ctx context.Context, a store.Account) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[a.Name]; ok {
		return fmt.Errorf("account %s: %w", a.Name, store.ErrAlreadyExists)
	}
	a.PasswordHash = bytes.Clone(a.PasswordHash)
	m.accounts[a.Name] = a
	return nil
}

// GetAccount implements store.Store.
func (m *Store) GetAccount(ctx context.Context, name string) (store.Account, error) {
	if err := ctx.Err(); err != nil {
		return store.Account{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.accounts[name]
	if !ok {
		return store.Account{}, fmt.Errorf("account %s: %w", name, store.ErrNotFound)
	}
	a.PasswordHash = bytes.Clone(a.PasswordHash)
	return a, nil
}

// ListAccounts implements store.Store.
func (m *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]store.Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		a.PasswordHash = bytes.Clone(a.PasswordHash)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b store.Account) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteAccount implements store.Store.
func (m *Store) DeleteAccount(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[name]; !ok {
		return fmt.Errorf("account %s: %w", name, store.ErrNotFound)
	}
	delete(m.accounts, name)
	for _, s := range m.sessions {
		if s.s.Username == name {
			m.dropSession(s)
		}
	}
	return nil
}

// SigningKeys implements store.Store.
func (m *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]store.SigningKey, 0, len(m.keys))
	// Newest first; among equal Created, the later insertion first, which
	// is what the sqlite store does too.
	for i := len(m.keys) - 1; i >= 0; i-- {
		k := m.keys[i]
		k.Private = bytes.Clone(k.Private)
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b store.SigningKey) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// AddSigningKey implements store.Store.
func (m *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.ID == k.ID {
			return fmt.Errorf("signing key %s: %w", k.ID, store.ErrAlreadyExists)
		}
	}
	k.Private = bytes.Clone(k.Private)
	m.keys = append(m.keys, k)
	return nil
}

// CreateSession implements store.Store. A peer session whose name is held by
// an expired session takes the name over and the expired session is dropped
// with its files (it could never come back: TouchSession refuses it).
func (m *Store) CreateSession(ctx context.Context, s store.Session, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[s.Username]; !ok {
		return fmt.Errorf("session %s: account %s: %w", s.ID, s.Username, store.ErrNotFound)
	}
	var replaced *session
	if s.IsPeer() {
		if old := m.peers[s.PeerName]; old != nil {
			if live(old, now) && old.s.Username != s.Username {
				return fmt.Errorf("peer name %s: %w", s.PeerName, store.ErrAlreadyExists)
			}
			replaced = old
		}
	}
	if old, ok := m.sessions[s.ID]; ok && old != replaced {
		return fmt.Errorf("session %s: %w", s.ID, store.ErrAlreadyExists)
	}
	if replaced != nil {
		m.dropSession(replaced)
	}
	ns := &session{s: s, files: make(map[string]*entry)}
	m.sessions[s.ID] = ns
	if s.IsPeer() {
		m.peers[s.PeerName] = ns
	}
	return nil
}

// GetSession implements store.Store.
func (m *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	if err := ctx.Err(); err != nil {
		return store.Session{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.sessions[id]
	if !ok || !live(s, now) {
		return store.Session{}, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	return s.s, nil
}

// TouchSession implements store.Store.
func (m *Store) TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	if err := ctx.Err(); err != nil {
		return store.Session{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !live(s, now) {
		return store.Session{}, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	s.s.LastSeen = now
	s.s.ExpiresAt = expiresAt
	return s.s, nil
}

// DeleteSession implements store.Store.
func (m *Store) DeleteSession(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	m.dropSession(s)
	return nil
}

// ReapExpired implements store.Store.
func (m *Store) ReapExpired(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.sessions {
		if !live(s, now) {
			m.dropSession(s)
			n++
		}
	}
	return n, nil
}

// dropSession removes a session and its files. The caller holds mu.
func (m *Store) dropSession(s *session) {
	for _, e := range s.files {
		m.unindex(e)
	}
	delete(m.sessions, s.s.ID)
	if m.peers[s.s.PeerName] == s {
		delete(m.peers, s.s.PeerName)
	}
}

// index adds an entry to its session, the content index and the search
// order. The caller holds mu.
func (m *Store) index(s *session, f store.File) {
	if old := s.files[f.Name]; old != nil {
		m.unindex(old)
	}
	m.seq++
	e := &entry{f: f, lower: strings.ToLower(f.Name), sess: s, seq: m.seq}
	s.files[f.Name] = e
	set := m.bySHA[f.SHA256]
	if set == nil {
		set = make(map[*entry]struct{})
		m.bySHA[f.SHA256] = set
	}
	set[e] = struct{}{}
	m.order = append(m.order, e)
}

// unindex removes an entry from its session and the content index, and marks
// it removed in the search order, compacting that when most of it is dead.
// The caller holds mu.
func (m *Store) unindex(e *entry) {
	delete(e.sess.files, e.f.Name)
	set := m.bySHA[e.f.SHA256]
	delete(set, e)
	if len(set) == 0 {
		delete(m.bySHA, e.f.SHA256)
	}
	e.removed = true
	m.removed++
	if m.removed > len(m.order)/2 {
		m.order = slices.DeleteFunc(m.order, func(e *entry) bool { return e.removed })
		m.removed = 0
	}
}

// livePeerSession returns the live peer session id, or ErrNotFound. The
// caller holds mu.
func (m *Store) livePeerSession(id string, now time.Time) (*session, error) {
	s, ok := m.sessions[id]
	if !ok || !livePeer(s, now) {
		return nil, fmt.Errorf("peer session %s: %w", id, store.ErrNotFound)
	}
	return s, nil
}

// checkUnique returns ErrInvalidArgument if two files share a name.
func checkUnique(files []store.File) error {
	seen := make(map[string]struct{}, len(files))
	for _, f := range files {
		if _, ok := seen[f.Name]; ok {
			return fmt.Errorf("file %q listed twice: %w", f.Name, store.ErrInvalidArgument)
		}
		seen[f.Name] = struct{}{}
	}
	return nil
}

// ReplaceFiles implements store.Store.
func (m *Store) ReplaceFiles(ctx context.Context, sessionID string, files []store.File, maxPeerFiles int, now time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkUnique(files); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.livePeerSession(sessionID, now)
	if err != nil {
		return 0, err
	}
	if len(files) > maxPeerFiles {
		return 0, fmt.Errorf("peer session %s: %d files, at most %d: %w", sessionID, len(files), maxPeerFiles, store.ErrLimit)
	}
	for _, e := range s.files {
		m.unindex(e)
	}
	for _, f := range files {
		m.index(s, f)
	}
	return int64(len(s.files)), nil
}

// ApplyDelta implements store.Store.
func (m *Store) ApplyDelta(ctx context.Context, sessionID string, added []store.File, removed []string, maxPeerFiles int, now time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkUnique(added); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.livePeerSession(sessionID, now)
	if err != nil {
		return 0, err
	}
	// Count the result before touching anything so a refused delta leaves
	// no trace.
	gone := make(map[string]struct{}, len(removed))
	for _, name := range removed {
		if _, ok := s.files[name]; ok {
			gone[name] = struct{}{}
		}
	}
	n := len(s.files) - len(gone)
	for _, f := range added {
		_, had := s.files[f.Name]
		_, wasRemoved := gone[f.Name]
		if !had || wasRemoved {
			n++
		}
	}
	if n > maxPeerFiles {
		return 0, fmt.Errorf("peer session %s: %d files, at most %d: %w", sessionID, n, maxPeerFiles, store.ErrLimit)
	}
	for name := range gone {
		m.unindex(s.files[name])
	}
	for _, f := range added {
		m.index(s, f)
	}
	return int64(len(s.files)), nil
}

// Search implements store.Store. Results are in the order of each content's
// first matching entry (insertion order), as in the sqlite store: a page
// scans entries from the token on, emits a content at an entry unless a live
// matching entry of the same content came earlier, and stops when full. The
// token is the last emitted entry's seq, bound to the query.
func (m *Store) Search(ctx context.Context, q store.SearchQuery, now time.Time) ([]store.SearchResult, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	lower := strings.ToLower(q.Query)
	bind := pagetoken.Hash("search", lower, q.SHA256)
	pos, err := decodeToken(q.PageToken, bind)
	if err != nil {
		return nil, "", err
	}
	var after uint64
	if q.PageToken != "" {
		if len(pos) != 8 {
			return nil, "", fmt.Errorf("page token %q: %w", q.PageToken, store.ErrInvalidArgument)
		}
		after = binary.BigEndian.Uint64([]byte(pos))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()

	matches := func(e *entry) bool {
		return !e.removed && livePeer(e.sess, now) && strings.Contains(e.lower, lower) &&
			(q.SHA256 == "" || e.f.SHA256 == q.SHA256)
	}
	first := func(e *entry) bool {
		for o := range m.bySHA[e.f.SHA256] {
			if o.seq < e.seq && matches(o) {
				return false
			}
		}
		return true
	}
	var hits []*entry
	consider := func(e *entry) bool {
		if e.seq > after && matches(e) && first(e) {
			hits = append(hits, e)
		}
		return len(hits) <= q.PageSize
	}
	if q.SHA256 != "" {
		for e := range m.bySHA[q.SHA256] {
			consider(e)
		}
		slices.SortFunc(hits, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	} else {
		start, _ := slices.BinarySearchFunc(m.order, after+1, func(e *entry, seq uint64) int { return cmp.Compare(e.seq, seq) })
		for _, e := range m.order[start:] {
			if !consider(e) {
				break
			}
		}
	}
	next := ""
	if len(hits) > q.PageSize {
		hits = hits[:q.PageSize]
		next = tokens.Encode(bind, binary.BigEndian.AppendUint64(nil, hits[len(hits)-1].seq))
	}
	out := make([]store.SearchResult, 0, len(hits))
	for _, e := range hits {
		out = append(out, m.group(e.f.SHA256, now))
	}
	return out, next, nil
}

// group builds the result for one content from all its live sources. The
// caller holds mu.
func (m *Store) group(sha string, now time.Time) store.SearchResult {
	var files []*entry
	for e := range m.bySHA[sha] {
		if livePeer(e.sess, now) {
			files = append(files, e)
		}
	}
	slices.SortFunc(files, func(a, b *entry) int {
		return cmp.Or(strings.Compare(a.sess.s.PeerName, b.sess.s.PeerName), strings.Compare(a.f.Name, b.f.Name))
	})
	r := store.SearchResult{SHA256: sha}
	if len(files) > 0 {
		r.Size, r.PieceSize, r.PieceRoot = files[0].f.Size, files[0].f.PieceSize, files[0].f.PieceRoot
	}
	for _, e := range files {
		r.Names = append(r.Names, e.f.Name)
		r.Sources = append(r.Sources, store.Source{
			Peer:     e.sess.s.PeerName,
			Address:  e.sess.s.Address,
			Name:     e.f.Name,
			LastSeen: e.sess.s.LastSeen,
		})
	}
	slices.Sort(r.Names)
	r.Names = slices.Compact(r.Names)
	return r
}

// livePeersSorted returns the live peer sessions ordered by peer name. The
// caller holds mu.
func (m *Store) livePeersSorted(now time.Time) []*session {
	var out []*session
	for _, s := range m.peers {
		if live(s, now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *session) int { return strings.Compare(a.s.PeerName, b.s.PeerName) })
	return out
}

// ListPeers implements store.Store.
func (m *Store) ListPeers(ctx context.Context, p store.Page, now time.Time) ([]store.Peer, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	bind := pagetoken.Hash("peers")
	after, err := decodeToken(p.Token, bind)
	if err != nil {
		return nil, "", err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []store.Peer
	for _, s := range m.livePeersSorted(now) {
		if p.Token != "" && s.s.PeerName <= after {
			continue
		}
		if len(out) == p.Size {
			return out, tokens.Encode(bind, []byte(out[len(out)-1].Session.PeerName)), nil
		}
		out = append(out, store.Peer{Session: s.s, FileCount: int64(len(s.files))})
	}
	return out, "", nil
}

// ListFiles implements store.Store. The page token is the last peer name and
// file name, separated by a NUL byte (neither can contain one).
func (m *Store) ListFiles(ctx context.Context, peer string, p store.Page, now time.Time) ([]store.PeerFile, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	bind := pagetoken.Hash("files", peer)
	after, err := decodeToken(p.Token, bind)
	if err != nil {
		return nil, "", err
	}
	afterPeer, afterName, ok := strings.Cut(after, "\x00")
	if p.Token != "" && !ok {
		return nil, "", fmt.Errorf("page token: %w", store.ErrInvalidArgument)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var sessions []*session
	if peer != "" {
		if s := m.peers[peer]; s != nil && live(s, now) {
			sessions = []*session{s}
		}
	} else {
		sessions = m.livePeersSorted(now)
	}
	var out []store.PeerFile
	for _, s := range sessions {
		name := s.s.PeerName
		if p.Token != "" && name < afterPeer {
			continue
		}
		names := make([]string, 0, len(s.files))
		for n := range s.files {
			if p.Token != "" && name == afterPeer && n <= afterName {
				continue
			}
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if len(out) == p.Size {
				last := out[len(out)-1]
				return out, tokens.Encode(bind, []byte(last.Peer+"\x00"+last.File.Name)), nil
			}
			out = append(out, store.PeerFile{Peer: name, Address: s.s.Address, File: s.files[n].f})
		}
	}
	return out, "", nil
}

// Stats implements store.Store.
func (m *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	if err := ctx.Err(); err != nil {
		return store.Stats{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var st store.Stats
	for _, s := range m.peers {
		if live(s, now) {
			st.OnlinePeers++
			st.IndexedFiles += int64(len(s.files))
		}
	}
	return st, nil
}

// Close implements store.Store; there is nothing to release.
func (m *Store) Close() error { return nil }

// tokens is the format of this store's page tokens; its version byte sets
// them apart from other stores' and from a later format's.
const tokens = pagetoken.Format('m')

// decodeToken returns the position of a token ("" for no token), or
// ErrInvalidArgument if this store did not issue it for this query.
func decodeToken(tok string, bind uint32) (string, error) {
	if tok == "" {
		return "", nil
	}
	pos, err := tokens.Decode(tok, bind)
	if err != nil {
		return "", err
	}
	if len(pos) == 0 {
		return "", fmt.Errorf("page token %q: %w", tok, store.ErrInvalidArgument)
	}
	return string(pos), nil
}
