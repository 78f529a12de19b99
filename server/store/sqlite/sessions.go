package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/batch"
	"github.com/peerhub/peerhub/server/store/pagetoken"
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

// maxTouchBatch is the most heartbeats committed in one transaction.
const maxTouchBatch = 512

// errClosed is returned by calls racing with Close.
var errClosed = errors.New("sqlite store closed")

// touchReq is one heartbeat waiting for the batcher.
type touchReq struct {
	ctx          context.Context
	id           string
	now, expires int64
}

// touchKey is the key of a heartbeat: its session.
func touchKey(r *touchReq) string { return r.id }

// touchRes is the outcome of one heartbeat.
type touchRes struct {
	s   store.Session
	err error
}

// TouchSession implements store.Store. Heartbeats are group-committed: a
// single goroutine takes every heartbeat queued while the previous batch
// was committing and applies them in one transaction. A commit costs far
// more than the UPDATE, so under load (thousands of peers heartbeating)
// throughput grows with the batch, while a lone heartbeat costs one
// transaction as before.
func (s *Store) TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	res, err := s.touches.Do(ctx, &touchReq{ctx: ctx, id: id, now: nanos(now), expires: nanos(expiresAt)})
	if err != nil {
		// The caller gave up (the heartbeat may still be applied), or
		// the store is closing.
		return store.Session{}, fmt.Errorf("touch session %s: %w", id, err)
	}
	return res.s, res.err
}

// touchBatch applies heartbeats in one transaction and answers each, in
// order. If the transaction fails, none is applied and all get the error.
func (s *Store) touchBatch(ctx context.Context, reqs []*touchReq) []touchRes {
	res := make(map[*touchReq]touchRes, len(reqs))
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		// One statement updates a row once: a session heartbeating
		// twice in one batch waits for a second round.
		return batch.Rounds(reqs, touchKey, func(r *touchReq) bool {
			if r.ctx.Err() == nil {
				return false
			}
			res[r] = touchRes{err: fmt.Errorf("touch session %s: %w", r.id, r.ctx.Err())}
			return true
		}, func(round []*touchReq) error {
			return s.touchRound(tx, round, res)
		})
	})
	out := make([]touchRes, len(reqs))
	for i, r := range reqs {
		out[i] = res[r]
		if err != nil {
			out[i] = touchRes{err: fmt.Errorf("touch session %s: %w", r.id, err)}
		}
	}
	return out
}

// touchRound applies heartbeats of distinct sessions with one UPDATE ...
// FROM (VALUES ...) statement: per row it costs an index lookup and a row
// write, without a statement execution each.
func (s *Store) touchRound(tx *sql.Tx, round []*touchReq, res map[*touchReq]touchRes) error {
	if len(round) == 0 {
		return nil
	}
	st, size := s.touchStmt(len(round))
	args := make([]any, 0, 3*size)
	byID := make(map[string]*touchReq, len(round))
	for _, r := range round {
		args = append(args, r.id, r.now, r.expires)
		byID[r.id] = r
	}
	for range size - len(round) {
		args = append(args, nil, 0, 0) // padding: matches no session
	}
	rows, err := tx.StmtContext(s.bgCtx, st).QueryContext(s.bgCtx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return err
		}
		res[byID[ss.ID]] = touchRes{s: ss}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range round {
		if _, ok := res[r]; !ok {
			res[r] = touchRes{err: fmt.Errorf("session %s: %w", r.id, store.ErrNotFound)}
		}
	}
	return nil
}

// touchStmt returns the batched heartbeat statement for at least n rows
// (n <= maxTouchBatch) and its size. Sizes are powers of two, padded, so a
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
		UPDATE sessions SET last_seen = b.now, expires_at = b.expires
		FROM b WHERE sessions.id = b.id AND sessions.expires_at > b.now
		RETURNING ` + sessionCols
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
	bind := pagetoken.Hash("peers")
	from := ""
	if p.Token != "" {
		payload, err := tokens.Decode(p.Token, bind)
		if err != nil {
			return nil, "", err
		}
		last, rest, err := pagetoken.ReadString(payload)
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
	return out, tokens.Encode(bind, pagetoken.AppendString(nil, out[len(out)-1].Session.PeerName)), nil
}
