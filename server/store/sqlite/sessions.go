package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// CreateSession implements store.Store (sqlstore.CreateSession: the single
// write connection serializes logins, so no locks).
func (s *Store) CreateSession(ctx context.Context, ss store.Session, maxSessions int, now time.Time) error {
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		return sqlstore.CreateSession(ctx, sqlstore.Std(tx), ss, maxSessions, now, sqlstore.SessionLocks{})
	})
	return sqlstore.WrapWrite("create session", ss.ID, err)
}

// PeerNameOwner implements store.Store.
func (s *Store) PeerNameOwner(ctx context.Context, name string) (string, error) {
	return sqlstore.PeerNameOwner(ctx, sqlstore.Std(s.r), name)
}

// ReleasePeerName implements store.Store (sqlstore.ReleasePeerName: the
// single write connection serializes it with logins, so no locks).
func (s *Store) ReleasePeerName(ctx context.Context, name, owner string, force bool, now time.Time) error {
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		return sqlstore.ReleasePeerName(ctx, sqlstore.Std(tx), name, owner, force, now, sqlstore.SessionLocks{})
	})
	return sqlstore.WrapWrite("release peer name", name, err)
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	ss, err := sqlstore.ScanSession(s.getSession.QueryRowContext(ctx, id, sqlstore.Nanos(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return ss, nil
}

// errClosed is returned by calls racing with Close.
var errClosed = errors.New("sqlite store closed")

// TouchSession implements store.Store. Heartbeats are group-committed (see
// sqlstore.Heartbeats), a round at a time with one UPDATE ... FROM (VALUES
// ...) statement (touchRound).
func (s *Store) TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	return s.touches.Touch(ctx, id, now, expiresAt)
}

// touchRound applies heartbeats of distinct sessions with one UPDATE ...
// FROM (VALUES ...) statement: per row it costs an index lookup and a row
// write, without a statement execution each. It returns the sessions it
// extended.
func (s *Store) touchRound(ctx context.Context, tx *sql.Tx, round []sqlstore.Heartbeat) ([]store.Session, error) {
	st, size := s.touchStmt(len(round))
	args := make([]any, 0, 3*size)
	for _, h := range round {
		args = append(args, h.ID, h.Now, h.Expires)
	}
	for range size - len(round) {
		args = append(args, nil, 0, 0) // padding: matches no session
	}
	rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		ss, err := sqlstore.ScanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

// touchStmt returns the batched heartbeat statement for at least n rows
// (n <= sqlstore.MaxHeartbeatBatch) and its size. Sizes are powers of two, padded, so a
// handful of statements are prepared once, at open: preparing on the write
// connection inside the batch's transaction would wait for itself.
func (s *Store) touchStmt(n int) (*sql.Stmt, int) {
	size := 1
	for size < n {
		size *= 2
	}
	return s.touchStmts[size], size
}

// sqlTouch is the batched heartbeat for size rows.
func sqlTouch(size int) string {
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?),", size), ",")
	return `WITH b (id, now, expires) AS (VALUES ` + values + `)
		UPDATE sessions SET last_seen = max(sessions.last_seen, b.now), expires_at = max(sessions.expires_at, b.expires)
		FROM b WHERE sessions.id = b.id AND sessions.expires_at > b.now
		RETURNING ` + sqlstore.SessionCols
}

// DeleteSession implements store.Store (sqlstore.EndSession).
func (s *Store) DeleteSession(ctx context.Context, id string, now time.Time) error {
	err := s.inWrite(ctx, func(tx *sql.Tx) error { return sqlstore.EndSession(ctx, sqlstore.Std(tx), id, now) })
	return sqlstore.WrapWrite("delete session", id, err)
}

// PeerSession implements store.Store.
func (s *Store) PeerSession(ctx context.Context, name string, now time.Time) (store.Session, error) {
	return sqlstore.PeerSession(ctx, sqlstore.Std(s.r), name, now)
}

// ReapExpired implements store.Store. RowsAffected counts the sessions only,
// not the files the cascade removes.
func (s *Store) ReapExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?1`, sqlstore.Nanos(now))
	if err != nil {
		return 0, fmt.Errorf("reap sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("reap sessions: %w", err)
	}
	return int(n), nil
}

// Stats implements store.Store from the sessions' maintained file counts.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	var st store.Stats
	if err := s.statsStmt.QueryRowContext(ctx, sqlstore.Nanos(now)).Scan(&st.OnlinePeers, &st.IndexedFiles); err != nil {
		return store.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// ListPeers implements store.Store.
func (s *Store) ListPeers(ctx context.Context, p store.Page, now time.Time) ([]store.Peer, string, error) {
	last, after, err := sqlstore.PeersAfter(tokens, p.Token)
	if err != nil {
		return nil, "", err
	}
	from := ""
	if after {
		// The smallest name after last in byte order.
		from = last + "\x00"
	}
	rows, err := s.listPeers.QueryContext(ctx, sqlstore.Nanos(now), from, p.Size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	defer rows.Close()
	var out []store.Peer
	for rows.Next() {
		var pr store.Peer
		var pin string
		var changed int64
		pr.Session, err = sqlstore.ScanSession(rows, &pr.FileCount, &pin, &changed)
		if err != nil {
			return nil, "", fmt.Errorf("list peers: %w", err)
		}
		pr.Pin = sqlstore.PinOf(pin, changed)
		out = append(out, pr)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	out, next := sqlstore.PeersPage(tokens, out, p.Size)
	return out, next, nil
}

// BindPeerPin implements store.Store (sqlstore.BindPeerPin: the single
// write connection serializes it).
func (s *Store) BindPeerPin(ctx context.Context, name, pin string, now time.Time) (string, error) {
	var previous string
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var err error
		previous, err = sqlstore.BindPeerPin(ctx, sqlstore.Std(tx), name, pin, now, "")
		return err
	})
	return previous, err
}

// PeerPins implements store.Store.
func (s *Store) PeerPins(ctx context.Context, names []string) (map[string]store.PeerPin, error) {
	return sqlstore.PeerPins(ctx, sqlstore.Std(s.r), names)
}
