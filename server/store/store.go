// Package store owns the directory's persistent state: accounts, signing
// keys, sessions (presence) and the file index, behind one interface with
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
	"time"
)

// Sentinel errors. Implementations wrap them with context; callers test with
// errors.Is. The RPC edge maps them to Connect codes.
var (
	// ErrNotFound means the account, session or key does not exist, or the
	// session has expired.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means an account of that name exists, or another
	// account's live peer session holds the peer name.
	ErrAlreadyExists = errors.New("already exists")
	// ErrLimit means a change would exceed a limit (entries per peer); the
	// change was not applied, not even in part.
	ErrLimit = errors.New("limit exceeded")
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
	// Address is where the peer serves PeerService.
	Address string
	// Name is the file's name at that peer.
	Name string
	// LastSeen is the peer's last heartbeat.
	LastSeen time.Time
}

// SearchResult is one distinct content that matched a search.
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
}

// PeerFile is one file of one live peer.
type PeerFile struct {
	// Peer is the peer name.
	Peer string
	// Address is where the peer serves PeerService.
	Address string
	// File is the entry.
	File File
}

// Page selects a page of a listing.
type Page struct {
	// Size is the most items to return (>= 1, the caller applied defaults).
	Size int
	// Token continues a previous listing; empty for the first page.
	Token string
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
	// DeleteAccount removes an account, its sessions and their files.
	// Errors: ErrNotFound.
	DeleteAccount(ctx context.Context, name string) error

	// SigningKeys returns every signing key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores a new signing key.
	// Errors: ErrAlreadyExists if the ID is taken.
	AddSigningKey(ctx context.Context, k SigningKey) error

	// CreateSession stores a new session, live until s.ExpiresAt. For a
	// peer session, a live session of the same PeerName and Username is
	// ended first (with its files): a peer that logs in again replaces
	// itself.
	// Errors: ErrAlreadyExists if a live session of another account holds
	// PeerName, or if the ID is taken; ErrNotFound if the account does not
	// exist.
	CreateSession(ctx context.Context, s Session, now time.Time) error
	// GetSession returns a live session.
	// Errors: ErrNotFound if it does not exist or expired at now.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	// TouchSession records a heartbeat at now and extends the session to
	// expiresAt, returning the updated session.
	// Errors: ErrNotFound if it does not exist or expired at now.
	TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (Session, error)
	// DeleteSession ends a session and drops its files.
	// Errors: ErrNotFound if it does not exist.
	DeleteSession(ctx context.Context, id string) error
	// ReapExpired deletes sessions expired at now, and their files, and
	// returns how many sessions it deleted.
	ReapExpired(ctx context.Context, now time.Time) (int, error)

	// ReplaceFiles replaces all files of a live peer session with files,
	// atomically, and returns the peer's new file count.
	// Errors: ErrNotFound if the session is not a live peer session at now
	// (a client session has no index);
	// ErrInvalidArgument if two entries share a name; ErrLimit if
	// len(files) > maxPeerFiles (nothing is changed).
	ReplaceFiles(ctx context.Context, sessionID string, files []File, maxPeerFiles int, now time.Time) (int64, error)
	// ApplyDelta removes the named files (absent names are ignored), then
	// adds or replaces (by name) the added ones, atomically, and returns the
	// peer's new file count. Applying the same delta twice gives the same
	// result.
	// Errors: ErrNotFound if the session is not a live peer session at now
	// (a client session has no index);
	// ErrInvalidArgument if two added entries share a name; ErrLimit if
	// the result would exceed maxPeerFiles (nothing is changed).
	ApplyDelta(ctx context.Context, sessionID string, added []File, removed []string, maxPeerFiles int, now time.Time) (int64, error)

	// Search returns a page of content matching q among live peers at now,
	// grouped by SHA256, in a stable order, and the token of the next page
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

	// Close releases the store's resources.
	Close() error
}
