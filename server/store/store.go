// Package store owns the directory's persistent state: accounts, signing
// keys, sessions (presence), revoked sessions and the file index, behind one
// interface with
// two implementations (sqlite, postgres) that both pass the conformance
// suite in package storetest.
//
// The store never reads a clock: every call that depends on time takes
// "now", so liveness is decided in the query itself (an expired session is
// invisible at once, before any reaper runs) and tests control time.
package store

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Implementations wrap them with context; callers test with
// errors.Is. The RPC edge maps them to Connect codes.
var (
	// ErrNotFound means the account, session or key does not exist, or the
	// session has expired.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means an account of that name exists, or another
	// account owns the peer name.
	ErrAlreadyExists = errors.New("already exists")
	// ErrLimit means a change would exceed a limit (files per peer or per
	// account, sessions per account); the change was not applied, not
	// even in part.
	ErrLimit = errors.New("limit exceeded")
	// ErrAccountFiles is the ErrLimit of a publish that would leave the
	// account with more files across its live peers than allowed.
	ErrAccountFiles = fmt.Errorf("files per account: %w", ErrLimit)
	// ErrInUse means a peer name cannot be released without force while a
	// live peer session holds it.
	ErrInUse = errors.New("in use")
	// ErrInvalidArgument means an argument the store can check itself is
	// malformed, e.g. a page token it did not issue or duplicate names in
	// one snapshot.
	ErrInvalidArgument = errors.New("invalid argument")
)

// Account is a user who may log in.
type Account struct {
	// Name is the unique login name.
	Name string
	// PasswordHash is a bcrypt hash; the password itself is never stored.
	PasswordHash []byte
	// Created is when the account was added.
	Created time.Time
}

// SigningKey is an Ed25519 key the directory signs tokens with. Keys live in
// the store so that a restart, or another replica on the same database,
// verifies tokens issued before.
type SigningKey struct {
	// ID is the JWT "kid" of tokens signed with this key.
	ID string
	// Private is the Ed25519 private key.
	Private ed25519.PrivateKey
	// Created is when the key was generated.
	Created time.Time
}

// Session is a logged-in user: a peer session when Address is set, else a
// client session.
type Session struct {
	// ID is the random session id (the token's "sid").
	ID string
	// Username is the account that logged in.
	Username string
	// PeerName is how a peer session is listed; empty for a client session.
	PeerName string
	// Address is the URL where the peer serves PeerService; empty for a
	// client session.
	Address string
	// Created is when the session logged in.
	Created time.Time
	// LastSeen is the last login or heartbeat.
	LastSeen time.Time
	// ExpiresAt is when the session goes offline unless it heartbeats.
	ExpiresAt time.Time
	// Pin is, for CreateSession of a peer session, the TLS identity to
	// bind to PeerName in the same transaction (as BindPeerPin does), so
	// that the session is never listed without it; "" for cleartext. It is
	// not read back: PeerPins and the listings have it.
	Pin string
}

// IsPeer reports whether the session serves files.
func (s Session) IsPeer() bool { return s.Address != "" }

// File is one entry of a peer's published index.
type File struct {
	// Name is the path relative to the peer's shared folder, validated by
	// package sharepath before it reaches the store.
	Name string
	// Size is the length in bytes.
	Size int64
	// SHA256 is the content hash, 64 lowercase hex digits.
	SHA256 string
	// PieceSize is the length in bytes of every piece but the last.
	PieceSize int32
	// PieceRoot is the SHA-256 of the concatenated piece hashes, hex.
	PieceRoot string
	// Modified is the file's modification time at the peer.
	Modified time.Time
}

// Source is a live peer that has some content under some name.
type Source struct {
	// Peer is the peer name.
	Peer string
	// Username is the account of the peer session, which owns the name.
	Username string
	// Address is where the peer serves PeerService.
	Address string
	// Name is the file's name at that peer.
	Name string
	// LastSeen is the peer's last heartbeat.
	LastSeen time.Time
	// Pin is the TLS identity bound to Peer (as PeerPins has it), read in
	// the search's own statement; "" for a peer serving cleartext.
	Pin string
}

// SearchResult is one distinct content that matched a search. A content is
// its whole descriptor (SHA256, Size, PieceSize, PieceRoot): sources that
// announce one SHA256 with different piece lists are different results, so
// a source that lies about a content forms its own result and cannot change
// what the others announce.
type SearchResult struct {
	// SHA256 is the content hash, hex.
	SHA256 string
	// Size is the length in bytes.
	Size int64
	// PieceSize is the length in bytes of every piece but the last.
	PieceSize int32
	// PieceRoot is the SHA-256 of the concatenated piece hashes, hex.
	PieceRoot string
	// Names are the distinct names of this content among live peers,
	// sorted.
	Names []string
	// Sources are all live peers that have this content, sorted by peer
	// name then file name.
	Sources []Source
	// AccountCount is how many distinct accounts the Sources belong to:
	// the number of independent parties that announce this descriptor.
	AccountCount int
}

// SearchQuery selects content by a name substring, a content hash or a
// prefix of one, or a name and a hash (both must then match).
type SearchQuery struct {
	// Query is a case-insensitive substring of the file name (at least 3
	// characters, checked at the edge); empty means any name.
	Query string
	// SHA256 is an exact content hash, hex; empty means any content.
	SHA256 string
	// SHA256Prefix selects the contents whose hash starts with it (lowercase
	// hex, 1 to 64 digits; the edge asks for at least 8); empty means any.
	// At most one of SHA256 and SHA256Prefix is set.
	SHA256Prefix string
	// PageSize is the most results to return; the caller has applied its
	// default and maximum (always >= 1).
	PageSize int
	// PageToken continues a previous search; empty for the first page.
	PageToken string
}

// Peer is one live peer session with its file count.
type Peer struct {
	// Session is the peer's session.
	Session Session
	// FileCount is how many files it has published.
	FileCount int64
	// Pin is the TLS identity bound to the peer's name, read by the
	// listing itself; zero if none was ever bound.
	Pin PeerPin
}

// PeerFile is one file of one live peer.
type PeerFile struct {
	// Peer is the peer name.
	Peer string
	// Address is where the peer serves PeerService.
	Address string
	// File is the entry.
	File File
	// Pin is the TLS identity bound to Peer (as PeerPins has it), read by
	// the listing itself; "" for cleartext or none bound.
	Pin string
}

// Revocation is one revoked session (Store.RevokedSessions).
type Revocation struct {
	// SessionID is the session's id, the "sid" claim of its tokens.
	SessionID string
	// RevokedAt is when it was revoked, by the clock of the directory
	// that revoked it.
	RevokedAt time.Time
}

// IndexedPeer is a peer session as Store.PeerSessions lists it, for an
// in-memory index of what Search reads (package liveindex).
type IndexedPeer struct {
	// Session is the session as stored.
	Session Session
	// FilesVersion changes with every ReplaceFiles or ApplyDelta of the
	// session that succeeds, in its transaction, so that an index reloads
	// only sessions whose files changed, whichever replica changed them.
	FilesVersion int64
	// Pin is the TLS identity bound to the session's peer name (as
	// PeerPins has it); "" for none.
	Pin string
}

// IndexedFile is one file of a session as Store.SessionFiles lists it.
type IndexedFile struct {
	// ID is the file's key: Search orders contents by the smallest ID of
	// their matching files, and its page tokens hold one.
	ID int64
	// File is the entry.
	File File
}

// PeerPin is the TLS identity bound to a peer name (Store.BindPeerPin).
type PeerPin struct {
	// Pin is the identity, curl's sha256//base64 form; "" for a peer
	// serving cleartext.
	Pin string
	// ChangedAt is when a login last replaced another pin; zero if never.
	ChangedAt time.Time
}

// Page selects a page of a listing.
type Page struct {
	// Size is the most items to return (>= 1, the caller applied defaults).
	Size int
	// Token continues a previous listing; empty for the first page.
	Token string
}

// FileLimits bound a publish: a change that would exceed one fails with
// ErrLimit and changes nothing.
type FileLimits struct {
	// Peer is the most files one peer session may have published.
	Peer int
	// Account is the most files the live peer sessions of one account may
	// have published together.
	Account int
}

// Stats are the gauges the directory exports as metrics.
type Stats struct {
	// OnlinePeers counts live peer sessions.
	OnlinePeers int64
	// IndexedFiles counts index entries of live peers.
	IndexedFiles int64
}

// Store is the directory's state. All methods are safe for concurrent use.
// Every method may also return an error wrapping a context error or an
// implementation failure (I/O, database); those map to Internal or
// Unavailable at the edge.
type Store interface {
	// CreateAccount adds an account.
	// Errors: ErrAlreadyExists if the name is taken.
	CreateAccount(ctx context.Context, a Account) error
	// GetAccount returns one account.
	// Errors: ErrNotFound.
	GetAccount(ctx context.Context, name string) (Account, error)
	// ListAccounts returns every account, ordered by name.
	ListAccounts(ctx context.Context) ([]Account, error)
	// DeleteAccount removes an account, its sessions and their files, and
	// releases its peer names; it records each of those sessions as revoked
	// at now (RevokedSessions).
	// Errors: ErrNotFound.
	DeleteAccount(ctx context.Context, name string, now time.Time) error

	// SigningKeys returns every signing key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores a new signing key.
	// Errors: ErrAlreadyExists if the ID is taken.
	AddSigningKey(ctx context.Context, k SigningKey) error

	// CreateSession stores a new session, live until s.ExpiresAt. A peer
	// session's PeerName belongs to the account that first created a peer
	// session with it, live or not, until it is released
	// (ReleasePeerName) or the account deleted: the first such session
	// claims the name for s.Username. A live session of the same PeerName
	// and Username is ended first (with its files): a peer that logs in
	// again replaces itself, and the session it replaces (or an expired
	// holder of the name) is recorded as revoked at now. The account may
	// have at most maxSessions live sessions, this one included, counted at
	// now.
	// Errors: ErrAlreadyExists if another account owns PeerName (or, after
	// a release, another account's live session still holds it), or if the
	// ID is taken; ErrNotFound if the account does not exist; ErrLimit if
	// the account has maxSessions live sessions already (the replaced one
	// not counted). Nothing is changed on error.
	CreateSession(ctx context.Context, s Session, maxSessions int, now time.Time) error
	// GetSession returns a live session.
	// Errors: ErrNotFound if it does not exist or expired at now.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	// TouchSession records a heartbeat at now and extends the session to
	// expiresAt, returning the updated session. It never moves last-seen or
	// the expiry back: of two heartbeats written out of order (a batched
	// one and a direct one, server/directory/presence.go) the later wins.
	// Errors: ErrNotFound if it does not exist or expired at now.
	TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (Session, error)
	// PeerSession returns the live peer session that holds the peer name
	// name at now.
	// Errors: ErrNotFound if no live peer session holds it.
	PeerSession(ctx context.Context, name string, now time.Time) (Session, error)
	// DeleteSession ends a session, drops its files and records it as
	// revoked at now.
	// Errors: ErrNotFound if it does not exist.
	DeleteSession(ctx context.Context, id string, now time.Time) error
	// ReapExpired deletes sessions expired at now, and their files, and
	// returns how many sessions it deleted. Peer names stay with their
	// accounts. Expiry is not revocation: it records none.
	ReapExpired(ctx context.Context, now time.Time) (int, error)

	// BindPeerPin records pin (a TLS identity, "" for a peer serving
	// cleartext) as peer name name's at now, after a login of its owner
	// opened the name's session, and returns the different pin it
	// replaced ("" if none or the same). Replacing a non-empty pin with
	// another non-empty one sets the binding's ChangedAt to now.
	// Errors: the name has no owner (released meanwhile).
	BindPeerPin(ctx context.Context, name, pin string, now time.Time) (string, error)
	// PeerPins returns the bindings of those of names that have one.
	PeerPins(ctx context.Context, names []string) (map[string]PeerPin, error)

	// PeerNameOwner returns the account that owns a peer name.
	// Errors: ErrNotFound if no account owns it.
	PeerNameOwner(ctx context.Context, name string) (string, error)
	// ReleasePeerName releases a peer name from its owner, so that the next
	// account to log in a peer with it claims it. With owner set, only
	// that account's name is released; empty releases whoever owns it.
	// Without force, a live peer session holding the name (at now) makes
	// it fail; with force, such a session is ended with its files and
	// recorded as revoked at now.
	// Errors: ErrNotFound if no account (or not owner) owns the name;
	// ErrInUse if a live session holds it and force is false.
	ReleasePeerName(ctx context.Context, name, owner string, force bool, now time.Time) error

	// RevokedSessions returns the sessions revoked (see DeleteSession,
	// DeleteAccount, CreateSession) at or after since, ordered by
	// revocation time, then id.
	RevokedSessions(ctx context.Context, since time.Time) ([]Revocation, error)
	// ForgetRevocations deletes the revocations recorded before before,
	// and returns how many it deleted.
	ForgetRevocations(ctx context.Context, before time.Time) (int, error)

	// ReplaceFiles replaces all files of a live peer session with files,
	// atomically, and returns the peer's new file count.
	// Errors: ErrNotFound if the session is not a live peer session at now
	// (a client session has no index);
	// ErrInvalidArgument if two entries share a name; ErrLimit if
	// len(files) > limits.Peer, ErrAccountFiles (an ErrLimit) if the
	// account's live peer sessions would have more than limits.Account
	// files together (nothing is changed).
	ReplaceFiles(ctx context.Context, sessionID string, files []File, limits FileLimits, now time.Time) (int64, error)
	// ApplyDelta removes the named files (absent names are ignored), then
	// adds or replaces (by name) the added ones, atomically, and returns the
	// peer's new file count. Applying the same delta twice gives the same
	// result.
	// Errors: ErrNotFound if the session is not a live peer session at now
	// (a client session has no index);
	// ErrInvalidArgument if two added entries share a name; ErrLimit if
	// the result would exceed limits.Peer, ErrAccountFiles if it would
	// exceed limits.Account (nothing is changed).
	ApplyDelta(ctx context.Context, sessionID string, added []File, removed []string, limits FileLimits, now time.Time) (int64, error)

	// Search returns a page of content matching q among live peers at now,
	// grouped by descriptor (SHA256, Size, PieceSize, PieceRoot: see
	// SearchResult), in a stable order, and the token of the next page
	// ("" on the last page). It uses an index: the cost of a page does not
	// grow with the number of indexed files that do not match.
	// Errors: ErrInvalidArgument for a page token it did not issue.
	Search(ctx context.Context, q SearchQuery, now time.Time) ([]SearchResult, string, error)
	// ListPeers returns a page of live peer sessions ordered by peer name,
	// and the next page token.
	// Errors: ErrInvalidArgument for a bad page token.
	ListPeers(ctx context.Context, p Page, now time.Time) ([]Peer, string, error)
	// ListFiles returns a page of files of live peers, ordered by peer
	// name then file name, optionally of one peer only (peer != ""), and
	// the next page token.
	// Errors: ErrInvalidArgument for a bad page token.
	ListFiles(ctx context.Context, peer string, p Page, now time.Time) ([]PeerFile, string, error)
	// Stats counts live peers and their files at now.
	Stats(ctx context.Context, now time.Time) (Stats, error)

	// PeerSessions lists every peer session held, live or expired but
	// not reaped yet, with its files version and pin, in no order: what
	// an in-memory index of Search's data reloads from.
	PeerSessions(ctx context.Context) ([]IndexedPeer, error)
	// SessionFiles returns the files of session id, in no order, and its
	// files version, read in one snapshot.
	// Errors: ErrNotFound if the session is gone (reaped, ended or
	// replaced; an expired session not reaped yet still has its files).
	SessionFiles(ctx context.Context, id string) ([]IndexedFile, int64, error)

	// Close releases the store's resources.
	Close() error
}
