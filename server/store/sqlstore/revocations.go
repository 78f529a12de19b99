package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Revocations implements the revocation methods of store.Store on the table
// revocations (session_id, revoked_at) that both schemas define; a store
// embeds it. The rows are written by the statements that end sessions
// (EndSession, CreateSession, Accounts.DeleteAccount), in their own
// transactions.
type Revocations struct {
	// Read runs the reads.
	Read Querier
	// InTx runs fn in a write transaction and commits it unless fn
	// fails; it may run fn again.
	InTx func(ctx context.Context, fn func(q Querier) error) error
}

// Revocation statements. ON CONFLICT keeps the first revocation of a
// session id (ids are random and never reused, so there is no second).
const (
	sqlRevokeSession = `INSERT INTO revocations (session_id, revoked_at) VALUES ($1, $2)
		ON CONFLICT (session_id) DO NOTHING`
	sqlRevokeAccount = `INSERT INTO revocations (session_id, revoked_at)
		SELECT id, $2 FROM sessions WHERE username = $1
		ON CONFLICT (session_id) DO NOTHING`
	sqlRevokedSessions   = `SELECT session_id, revoked_at FROM revocations WHERE revoked_at >= $1 ORDER BY revoked_at, session_id`
	sqlForgetRevocations = `DELETE FROM revocations WHERE revoked_at < $1`
)

// RevokedSessions implements store.Store.
func (r *Revocations) RevokedSessions(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	rows, err := r.Read.Query(ctx, sqlRevokedSessions, Nanos(since))
	if err != nil {
		return nil, fmt.Errorf("revoked sessions: %w", err)
	}
	out, err := collect(rows, func(row Row) (store.Revocation, error) {
		var rv store.Revocation
		var at int64
		err := row.Scan(&rv.SessionID, &at)
		rv.RevokedAt = FromNanos(at)
		return rv, err
	})
	if err != nil {
		return nil, fmt.Errorf("revoked sessions: %w", err)
	}
	return out, nil
}

// ForgetRevocations implements store.Store.
func (r *Revocations) ForgetRevocations(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := r.InTx(ctx, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, sqlForgetRevocations, Nanos(before))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("forget revocations: %w", err)
	}
	return int(n), nil
}

// EndSession is store.Store.DeleteSession in a write transaction q: it
// deletes the session (its files go by the schemas' cascade) and records it
// as revoked at now.
// Errors: store.ErrNotFound if there is no such session.
func EndSession(ctx context.Context, q Querier, id string, now time.Time) error {
	n, err := q.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	_, err = q.Exec(ctx, sqlRevokeSession, id, Nanos(now))
	return err
}

// PeerSession is store.Store.PeerSession on q.
func PeerSession(ctx context.Context, q Querier, name string, now time.Time) (store.Session, error) {
	ss, err := ScanSession(q.QueryRow(ctx, `SELECT `+SessionCols+` FROM sessions
		WHERE peer_name = $1 AND address <> '' AND expires_at > $2`, name, Nanos(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("peer %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("peer session %s: %w", name, err)
	}
	return ss, nil
}
