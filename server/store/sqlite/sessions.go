package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// CreateSession implements store.Store. A peer session whose name is held by
// an expired session takes the name over and the expired session is dropped
// with its files (it could never come back: TouchSession refuses it), which
// keeps the unique peer-name index valid.
func (s *Store) CreateSession(ctx context.Context, ss store.Session, now time.Time) error {
	return s.inWrite(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE name = ?1`, ss.Username).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("session %s: account %s: %w", ss.ID, ss.Username, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("create session %s: %w", ss.ID, err)
		}
		replaced := int64(-1)
		if ss.IsPeer() {
			var seq, expires int64
			var user string
			err := tx.QueryRowContext(ctx,
				`SELECT seq, username, expires_at FROM sessions WHERE peer_name = ?1 AND address <> ''`, ss.PeerName).
				Scan(&seq, &user, &expires)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("create session %s: %w", ss.ID, err)
			case expires > nanos(now) && user != ss.Username:
				return fmt.Errorf("peer name %s: %w", ss.PeerName, store.ErrAlreadyExists)
			default:
				replaced = seq
			}
		}
		var seq int64
		err = tx.QueryRowContext(ctx, `SELECT seq FROM sessions WHERE id = ?1`, ss.ID).Scan(&seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("create session %s: %w", ss.ID, err)
		case seq != replaced:
			return fmt.Errorf("session %s: %w", ss.ID, store.ErrAlreadyExists)
		}
		if replaced >= 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE seq = ?1`, replaced); err != nil {
				return fmt.Errorf("create session %s: end previous session: %w", ss.ID, err)
			}
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO sessions (id, username, peer_name, address, created, last_seen, expires_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
			ss.ID, ss.Username, ss.PeerName, ss.Address, nanos(ss.Created), nanos(ss.LastSeen), nanos(ss.ExpiresAt))
		if err != nil {
			return fmt.Errorf("create session %s: %w", ss.ID, err)
		}
		return nil
	})
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	ss, err := scanSession(s.getSession.QueryRowContext(ctx, id, nanos(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return ss, nil
}

// TouchSession implements store.Store: one UPDATE ... RETURNING, so a
// heartbeat is a single short write transaction.
func (s *Store) TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	ss, err := scanSession(s.touch.QueryRowContext(ctx, nanos(now), nanos(expiresAt), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("touch session %s: %w", id, err)
	}
	return ss, nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?1`, id)
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ReapExpired implements store.Store. RowsAffected counts the sessions only,
// not the files the cascade removes.
func (s *Store) ReapExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?1`, nanos(now))
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
	if err := s.statsStmt.QueryRowContext(ctx, nanos(now)).Scan(&st.OnlinePeers, &st.IndexedFiles); err != nil {
		return store.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// ListPeers implements store.Store.
func (s *Store) ListPeers(ctx context.Context, p store.Page, now time.Time) ([]store.Peer, string, error) {
	bind := queryHash("peers")
	from := ""
	if p.Token != "" {
		payload, err := decodeToken(p.Token, bind)
		if err != nil {
			return nil, "", err
		}
		last, rest, err := readString(payload)
		if err != nil || len(rest) != 0 {
			return nil, "", fmt.Errorf("page token %q: %w", p.Token, store.ErrInvalidArgument)
		}
		// The smallest name after last in byte order.
		from = last + "\x00"
	}
	rows, err := s.listPeers.QueryContext(ctx, nanos(now), from, p.Size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	defer rows.Close()
	var out []store.Peer
	for rows.Next() {
		var pr store.Peer
		pr.Session, err = scanSession(rows, &pr.FileCount)
		if err != nil {
			return nil, "", fmt.Errorf("list peers: %w", err)
		}
		out = append(out, pr)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	if len(out) <= p.Size {
		return out, "", nil
	}
	out = out[:p.Size]
	return out, encodeToken(bind, appendString(nil, out[len(out)-1].Session.PeerName)), nil
}
