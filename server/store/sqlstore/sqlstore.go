// Package sqlstore owns what the two SQL stores (sqlite, postgres) share
// beyond their schemas: how times are stored; the account and signing-key
// statements, the login transaction (CreateSession) and the peer names'
// ownership (claim, owner, release), which run through Querier, the small
// interface each store adapts its driver to; heartbeat
// group commit; the checks, the diff and the flow of a publish, over the
// store's own statements (Change); the listings' page tokens and the start
// of a search page.
//
// Its SQL uses $1, $2… placeholders, which PostgreSQL and SQLite
// (modernc.org/sqlite) both bind by number, on the tables and columns both
// schemas define alike.
package sqlstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Nanos is t as stored: unix nanoseconds, 0 for the zero time. Unlike a
// timestamp column, it gives back exactly the time it was given.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the inverse of Nanos, in UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// NonNil returns b, or an empty slice for nil, so that a NOT NULL blob
// (bytea) column accepts it.
func NonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CheckUnique returns an error wrapping store.ErrInvalidArgument if two
// files share a name.
func CheckUnique(files []store.File) error {
	seen := make(map[string]struct{}, len(files))
	for _, f := range files {
		if _, ok := seen[f.Name]; ok {
			return fmt.Errorf("file %q listed twice: %w", f.Name, store.ErrInvalidArgument)
		}
		seen[f.Name] = struct{}{}
	}
	return nil
}

// TooManyAccountFiles is the error of a change that would leave the
// account of a peer session with n files across its live peer sessions,
// more than maxAccountFiles: it wraps store.ErrAccountFiles.
func TooManyAccountFiles(sessionID string, n int64, maxAccountFiles int) error {
	return fmt.Errorf("peer session %s: its account would have %d files across its peers, at most %d: %w", sessionID, n, maxAccountFiles, store.ErrAccountFiles)
}

// TooManyFiles is the error of a change that would leave a peer session
// with n files, more than maxPeerFiles: it wraps store.ErrLimit.
func TooManyFiles(sessionID string, n int64, maxPeerFiles int) error {
	return fmt.Errorf("peer session %s: %d files, at most %d: %w", sessionID, n, maxPeerFiles, store.ErrLimit)
}

// WrapWrite adds what failed, and on what, to a database error; an error
// wrapping a store sentinel already says it and is returned as is, as is
// nil.
func WrapWrite(what, id string, err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrLimit, store.ErrInvalidArgument, store.ErrAlreadyExists, store.ErrInUse} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return fmt.Errorf("%s %s: %w", what, id, err)
}
