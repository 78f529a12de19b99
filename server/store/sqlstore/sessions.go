package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// SessionCols are the session columns ScanSession reads, in its order.
const SessionCols = `id, username, peer_name, address, created, last_seen, expires_at`

// ScanSession reads SessionCols, then extra destinations.
func ScanSession(row Row, extra ...any) (store.Session, error) {
	var ss store.Session
	var created, lastSeen, expires int64
	dest := append([]any{&ss.ID, &ss.Username, &ss.PeerName, &ss.Address, &created, &lastSeen, &expires}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Session{}, err
	}
	ss.Created, ss.LastSeen, ss.ExpiresAt = FromNanos(created), FromNanos(lastSeen), FromNanos(expires)
	return ss, nil
}

// SessionLocks are the locks CreateSession takes in a database where
// writers run concurrently (PostgreSQL); the zero value takes none, for a
// database that serializes its writers (SQLite).
type SessionLocks struct {
	// Account is appended to the select of the session's account, to
	// keep the account from being deleted under the login and to make the
	// account's logins and publishes take turns, so that its session and
	// file counts hold (" FOR NO KEY UPDATE").
	Account string
	// Holder is appended to the select of the peer name's holder (" FOR
	// UPDATE").
	Holder string
	// PeerName, if not nil, is called before the name's owner and holder
	// are read, to make logins and releases of one peer name take turns.
	PeerName func(ctx context.Context, q Querier, name string) error
	// Pin is appended to the read of the name's previous pin (BindPeerPin's
	// lock).
	Pin string
}

// sqlLiveSessions counts the sessions of account $1 live at $2, by the
// sessions_username index.
const sqlLiveSessions = `SELECT count(*) FROM sessions WHERE username = $1 AND expires_at > $2`

// CreateSession is store.Store.CreateSession in a write transaction q. A
// peer session claims its name for its account if no account owns it
// (claimPeerName). A peer session whose name is held by an expired session
// takes the name over and the expired session is dropped with its files (it
// could never come back: TouchSession refuses it), which keeps the unique
// peer-name index valid; a live session of the same account and peer name is
// replaced (a peer logging in again). Either way the session dropped is
// recorded as revoked at now. The account's live sessions, without the
// replaced one, are counted last. It returns store sentinel errors as
// documented, and database errors as they are; on error the caller rolls q
// back, so nothing is changed.
func CreateSession(ctx context.Context, q Querier, ss store.Session, maxSessions int, now time.Time, locks SessionLocks) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM accounts WHERE name = $1`+locks.Account, ss.Username).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("session %s: account %s: %w", ss.ID, ss.Username, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	replaced, replacedID := int64(-1), ""
	if ss.IsPeer() {
		if locks.PeerName != nil {
			if err := locks.PeerName(ctx, q, ss.PeerName); err != nil {
				return err
			}
		}
		if err := claimPeerName(ctx, q, ss); err != nil {
			return err
		}
		if _, err := BindPeerPin(ctx, q, ss.PeerName, ss.Pin, now, locks.Pin); err != nil {
			return err
		}
		var seq, expires int64
		var id, user string
		err := q.QueryRow(ctx, `SELECT seq, id, username, expires_at FROM sessions WHERE peer_name = $1 AND address <> ''`+locks.Holder,
			ss.PeerName).Scan(&seq, &id, &user, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case expires > Nanos(now) && user != ss.Username:
			return fmt.Errorf("peer name %s: %w", ss.PeerName, store.ErrAlreadyExists)
		default:
			replaced, replacedID = seq, id
		}
	}
	var seq int64
	err = q.QueryRow(ctx, `SELECT seq FROM sessions WHERE id = $1`, ss.ID).Scan(&seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case seq != replaced:
		return fmt.Errorf("session %s: %w", ss.ID, store.ErrAlreadyExists)
	}
	if replaced >= 0 {
		if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE seq = $1`, replaced); err != nil {
			return fmt.Errorf("end previous session: %w", err)
		}
		if _, err := q.Exec(ctx, sqlRevokeSession, replacedID, Nanos(now)); err != nil {
			return fmt.Errorf("revoke previous session: %w", err)
		}
	}
	var live int64
	if err := q.QueryRow(ctx, sqlLiveSessions, ss.Username, Nanos(now)).Scan(&live); err != nil {
		return err
	}
	if live >= int64(maxSessions) {
		return fmt.Errorf("account %s: %d live sessions, at most %d: %w", ss.Username, live, maxSessions, store.ErrLimit)
	}
	_, err = q.Exec(ctx, `INSERT INTO sessions (id, username, peer_name, address, created, last_seen, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ss.ID, ss.Username, ss.PeerName, ss.Address, Nanos(ss.Created), Nanos(ss.LastSeen), Nanos(ss.ExpiresAt))
	return err
}
