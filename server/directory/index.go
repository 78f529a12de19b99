package directory

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Bounds of file entries and queries, as in the protocol.
const (
	// MinPieceSize and MaxPieceSize bound FileEntry.piece_size, in bytes.
	MinPieceSize = 16 << 10
	MaxPieceSize = 16 << 20
	// MinQueryLen and MaxQueryLen bound a search query, in characters; 3
	// so that a trigram index can answer every query.
	MinQueryLen = 3
	MaxQueryLen = 256
	// MaxPageTokenLen is the longest page token accepted, in bytes.
	MaxPageTokenLen = 512
)

// The span of FileEntry.modified: what 64 bits of nanoseconds since 1970,
// as the store keeps times, can hold (the years 1677 to 2262), in whole
// seconds as in the protocol's rule.
var (
	MinModified = time.Unix(-9223372036, 0).UTC()
	MaxModified = time.Unix(9223372036, 0).UTC()
)

// Change is what a Publish call changes in the caller's index.
type Change struct {
	// Snapshot makes Added the peer's complete list, replacing everything
	// published before; Removed must then be empty.
	Snapshot bool
	// Added are new or changed files (the whole list for a snapshot).
	Added []store.File
	// Removed are names no longer shared; absent names are ignored.
	// Removal comes before addition.
	Removed []string
}

// Publish applies a change to the calling peer's index and returns how many
// files the peer has published now. Publishing the same change twice gives
// the same index.
// Errors: ErrNotPeer for a client session; ErrLimit when the change has more
// than MaxPublishEntries entries or would leave the peer with more than
// MaxPeerFiles, or its account with more than MaxAccountFiles across its
// online peers (nothing is changed); ErrInvalidArgument for a bad name or
// hash, or a name listed twice; ErrUnauthenticated when the session has
// ended.
func (d *Directory) Publish(ctx context.Context, caller token.Claims, ch Change) (int64, error) {
	if caller.Peer == "" {
		return 0, fmt.Errorf("%w: log in with an advertise address to publish files", ErrNotPeer)
	}
	if n := len(ch.Added) + len(ch.Removed); n > d.cfg.MaxPublishEntries {
		return 0, fmt.Errorf("publish: %d entries in one call, at most %d allowed; split the change into deltas: %w", n, d.cfg.MaxPublishEntries, ErrLimit)
	}
	if err := CheckChange(ch); err != nil {
		return 0, err
	}
	now := d.cfg.Now()
	var (
		count int64
		err   error
	)
	limits := store.FileLimits{Peer: d.cfg.MaxPeerFiles, Account: d.cfg.MaxAccountFiles}
	if ch.Snapshot {
		count, err = d.store.ReplaceFiles(ctx, caller.SessionID, ch.Added, limits, now)
	} else {
		count, err = d.store.ApplyDelta(ctx, caller.SessionID, ch.Added, ch.Removed, limits, now)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("%w: session ended; log in again", ErrUnauthenticated)
	case errors.Is(err, store.ErrAccountFiles):
		return 0, fmt.Errorf("publish: the peers of account %s may share at most %d files together: %w", caller.Subject, d.cfg.MaxAccountFiles, ErrLimit)
	case errors.Is(err, store.ErrLimit):
		return 0, fmt.Errorf("publish: a peer may share at most %d files: %w", d.cfg.MaxPeerFiles, ErrLimit)
	case err != nil:
		return 0, fmt.Errorf("publish: %w", err)
	}
	d.watches.poke()
	return count, nil
}

// CheckChange checks a change against the protocol's rules (CheckFile for
// each added entry, sharepath.Check for each removed name; nothing removed
// explicitly by a snapshot), as a defense behind the RPC validation. The
// error wraps ErrInvalidArgument.
func CheckChange(ch Change) error {
	if ch.Snapshot && len(ch.Removed) > 0 {
		return fmt.Errorf("publish: a snapshot removes nothing explicitly: %w", ErrInvalidArgument)
	}
	for i, f := range ch.Added {
		if err := CheckFile(f); err != nil {
			return fmt.Errorf("file %d: %w", i, err)
		}
	}
	for i, name := range ch.Removed {
		if err := sharepath.Check(name); err != nil {
			return fmt.Errorf("removed name %d: %w: %w", i, err, ErrInvalidArgument)
		}
	}
	return nil
}

// CheckFile checks an entry against the protocol's rules, as a defense
// behind the RPC validation. The error wraps ErrInvalidArgument.
func CheckFile(f store.File) error {
	if err := sharepath.Check(f.Name); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidArgument)
	}
	switch {
	case f.Size < 0:
		return fmt.Errorf("file %q: negative size: %w", f.Name, ErrInvalidArgument)
	case !pieces.IsHex(f.SHA256):
		return fmt.Errorf("file %q: sha256: want 64 lowercase hex digits: %w", f.Name, ErrInvalidArgument)
	case !pieces.IsHex(f.PieceRoot):
		return fmt.Errorf("file %q: piece root: want 64 lowercase hex digits: %w", f.Name, ErrInvalidArgument)
	case f.PieceSize < MinPieceSize || f.PieceSize > MaxPieceSize:
		return fmt.Errorf("file %q: piece size %d: want %d to %d bytes: %w", f.Name, f.PieceSize, MinPieceSize, MaxPieceSize, ErrInvalidArgument)
	case f.Modified.Before(MinModified) && !f.Modified.IsZero() || f.Modified.After(MaxModified):
		return fmt.Errorf("file %q: modified %s: want a time from %d to %d: %w", f.Name, f.Modified, MinModified.Year(), MaxModified.Year(), ErrInvalidArgument)
	}
	return nil
}

// pageSize applies the default page size and the maximum.
func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, fmt.Errorf("page size %d: want 0 (default %d) to %d: %w", n, DefaultPageSize, MaxPageSize, ErrInvalidArgument)
	}
	return n, nil
}

// page checks a page request and applies its defaults.
func page(p store.Page) (store.Page, error) {
	size, err := pageSize(p.Size)
	if err != nil {
		return store.Page{}, err
	}
	if len(p.Token) > MaxPageTokenLen {
		return store.Page{}, fmt.Errorf("page token: longer than %d bytes: %w", MaxPageTokenLen, ErrInvalidArgument)
	}
	return store.Page{Size: size, Token: p.Token}, nil
}

// Search finds content of online peers by a case-insensitive name substring,
// an exact SHA-256 or a prefix of one (at least MinHashPrefixLen digits),
// or a name and a hash, grouped by content, and returns one page and
// the next page's token ("" on the last page). A zero page size means
// DefaultPageSize.
// Errors: ErrInvalidArgument for a query shorter than MinQueryLen or longer
// than MaxQueryLen characters, a bad hash or hash prefix, page size or
// page token.
func (d *Directory) Search(ctx context.Context, q store.SearchQuery) ([]store.SearchResult, string, error) {
	if err := checkSearch(q); err != nil {
		return nil, "", err
	}
	p, err := page(store.Page{Size: q.PageSize, Token: q.PageToken})
	if err != nil {
		return nil, "", err
	}
	q.PageSize, q.PageToken = p.Size, p.Token
	res, next, err := d.store.Search(ctx, q, d.cfg.Now())
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	return res, next, nil
}

// checkSearch checks what a search (or a watch) selects by: a query of
// MinQueryLen to MaxQueryLen characters, a hash, a hash prefix.
// Errors: ErrInvalidArgument.
func checkSearch(q store.SearchQuery) error {
	if q.Query == "" && q.SHA256 == "" && q.SHA256Prefix == "" {
		return fmt.Errorf("search: give a query, a sha256 or a sha256 prefix: %w", ErrInvalidArgument)
	}
	if q.Query != "" {
		n := utf8.RuneCountInString(q.Query)
		if !utf8.ValidString(q.Query) || n < MinQueryLen || n > MaxQueryLen {
			return fmt.Errorf("search query: want %d to %d characters of UTF-8: %w", MinQueryLen, MaxQueryLen, ErrInvalidArgument)
		}
	}
	if q.SHA256 != "" && !pieces.IsHex(q.SHA256) {
		return fmt.Errorf("search sha256: want 64 lowercase hex digits: %w", ErrInvalidArgument)
	}
	return checkHashPrefix(q)
}

// ListPeers returns a page of online peers ordered by name, and the next
// page's token.
// Errors: ErrInvalidArgument for a bad page size or token.
func (d *Directory) ListPeers(ctx context.Context, p store.Page) ([]store.Peer, string, error) {
	p, err := page(p)
	if err != nil {
		return nil, "", err
	}
	peers, next, err := d.store.ListPeers(ctx, p, d.cfg.Now())
	if err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	return peers, next, nil
}

// ListFiles returns a page of the files of online peers (of one peer when
// peer is not empty), ordered by peer name then file name, and the next
// page's token.
// Errors: ErrInvalidArgument for a bad peer name, page size or token.
func (d *Directory) ListFiles(ctx context.Context, peer string, p store.Page) ([]store.PeerFile, string, error) {
	if peer != "" {
		if err := CheckName(peer); err != nil {
			return nil, "", fmt.Errorf("peer: %w", err)
		}
	}
	p, err := page(p)
	if err != nil {
		return nil, "", err
	}
	files, next, err := d.store.ListFiles(ctx, peer, p, d.cfg.Now())
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	return files, next, nil
}
