package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// createAttempts bounds how often CreateSession runs again after losing a
// race for a free peer name to a concurrent login (the unique index refused
// its insert): the next attempt sees the winner and replaces or refuses it.
const createAttempts = 3

// CreateSession implements store.Store (sqlstore.CreateSession with
// sessionLocks), running again after losing a race for a free peer name.
func (s *Store) CreateSession(ctx context.Context, ss store.Session, maxSessions int, now time.Time) error {
	for _, v := range []string{ss.ID, ss.Username, ss.PeerName, ss.Address} {
		if err := checkText(v); err != nil {
			return fmt.Errorf("session %q: %w", ss.ID, err)
		}
	}
	var err error
	for range createAttempts {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			return sqlstore.CreateSession(ctx, querier{tx}, ss, maxSessions, now, sessionLocks)
		})
		if pgCode(err) != codeUniqueViolation || pgConstraint(err) != "sessions_peer_name" {
			break
		}
	}
	switch {
	case pgCode(err) == codeUniqueViolation && pgConstraint(err) == "sessions_peer_name":
		return fmt.Errorf("peer name %s: %w", ss.PeerName, store.ErrAlreadyExists)
	case pgCode(err) == codeUniqueViolation:
		return fmt.Errorf("session %s: %w", ss.ID, store.ErrAlreadyExists)
	case pgCode(err) == codeForeignKeyViolation:
		return fmt.Errorf("session %s: account %s: %w", ss.ID, ss.Username, store.ErrNotFound)
	}
	return sqlstore.WrapWrite("create session", ss.ID, err)
}

// sessionLocks are the locks of a login (sqlstore.CreateSession) and of a
// peer-name release (sqlstore.ReleasePeerName). They go account, then
// sessions, as in DeleteAccount's cascade and a publish (change.LivePeer),
// so that these do not deadlock.
var sessionLocks = sqlstore.SessionLocks{
	// NO KEY UPDATE: the account cannot be deleted under us, and the
	// account's logins and publishes take turns (so that its count of
	// live sessions holds until the login commits), while the foreign-key
	// checks of its sessions' and names' inserts (KEY SHARE) proceed.
	Account: ` FOR NO KEY UPDATE`,
	Holder:  ` FOR UPDATE`,
	Pin:     ` FOR UPDATE`,
	// Logins of one peer name take turns, in every replica: without
	// this, concurrent logins that all see no holder race for the
	// unique index, and all but one start over.
	PeerName: func(ctx context.Context, q sqlstore.Querier, name string) error {
		_, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, peerNameLock(name))
		return err
	},
}

// PeerNameOwner implements store.Store.
func (s *Store) PeerNameOwner(ctx context.Context, name string) (string, error) {
	if checkText(name) != nil {
		return "", fmt.Errorf("peer name %q: %w", name, store.ErrNotFound)
	}
	return sqlstore.PeerNameOwner(ctx, querier{s.pool}, name)
}

// ReleasePeerName implements store.Store (sqlstore.ReleasePeerName with
// sessionLocks' peer-name and holder locks). It takes no account lock, so
// it may deadlock with a login of the account while a publish of the
// name's session runs; PostgreSQL breaks the cycle and inTx runs the
// release again.
func (s *Store) ReleasePeerName(ctx context.Context, name, owner string, force bool, now time.Time) error {
	for _, v := range []string{name, owner} {
		if checkText(v) != nil {
			return fmt.Errorf("peer name %q: %w", name, store.ErrNotFound)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return sqlstore.ReleasePeerName(ctx, querier{tx}, name, owner, force, now, sessionLocks)
	})
	return sqlstore.WrapWrite("release peer name", name, err)
}

// peerNameLock is the transaction advisory lock key (the single-bigint key
// space) of a peer name. Two names sharing a key only wait for each other.
func peerNameLock(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	if checkText(id) != nil {
		return store.Session{}, fmt.Errorf("session %q: %w", id, store.ErrNotFound)
	}
	ss, err := sqlstore.ScanSession(s.pool.QueryRow(ctx,
		`SELECT `+sqlstore.SessionCols+` FROM sessions WHERE id = $1 AND expires_at > $2`, id, sqlstore.Nanos(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return ss, nil
}

// touchWorkers is how many heartbeat batches may be in flight at once:
// while one commits, the next fills, so a slow commit does not stall every
// heartbeat behind it.
const touchWorkers = 2

// errClosed is returned by calls racing with Close.
var errClosed = errors.New("postgres store closed")

// TouchSession implements store.Store. Heartbeats are group-committed (see
// sqlstore.Heartbeats), a round at a time with one UPDATE ... FROM
// unnest(...) statement (touchRound): a commit (a WAL flush) and a round
// trip cost far more than the row update, and this holds through every
// replica.
func (s *Store) TouchSession(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	if checkText(id) != nil {
		return store.Session{}, fmt.Errorf("session %q: %w", id, store.ErrNotFound)
	}
	return s.touches.Touch(ctx, id, now, expiresAt)
}

// sqlTouch applies one round of heartbeats of distinct sessions. The
// condition on expires_at is on the updated table itself, so a row changed
// by a concurrent transaction is checked again in its new version.
const sqlTouch = `UPDATE sessions SET last_seen = GREATEST(sessions.last_seen, b.now), expires_at = GREATEST(sessions.expires_at, b.expires)
	FROM unnest($1::text[], $2::int8[], $3::int8[]) AS b (id, now, expires)
	WHERE sessions.id = b.id AND sessions.expires_at > b.now
	RETURNING sessions.id, sessions.username, sessions.peer_name, sessions.address,
		sessions.created, sessions.last_seen, sessions.expires_at`

// touchRound applies heartbeats of distinct sessions with one statement and
// returns the sessions it extended. Rows go in id order, so that two
// batches (of two replicas) lock common sessions in the same order.
func (s *Store) touchRound(ctx context.Context, tx pgx.Tx, round []sqlstore.Heartbeat) ([]store.Session, error) {
	slices.SortFunc(round, func(a, b sqlstore.Heartbeat) int { return strings.Compare(a.ID, b.ID) })
	ids := make([]string, len(round))
	nows := make([]int64, len(round))
	exps := make([]int64, len(round))
	for i, h := range round {
		ids[i], nows[i], exps[i] = h.ID, h.Now, h.Expires
	}
	rows, err := tx.Query(ctx, sqlTouch, ids, nows, exps)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Session, error) { return sqlstore.ScanSession(r) })
}

// DeleteSession implements store.Store (sqlstore.EndSession). The
// session's files go by cascade in the same statement.
func (s *Store) DeleteSession(ctx context.Context, id string, now time.Time) error {
	if checkText(id) != nil {
		return fmt.Errorf("session %q: %w", id, store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error { return sqlstore.EndSession(ctx, querier{tx}, id, now) })
	return sqlstore.WrapWrite("delete session", id, err)
}

// PeerSession implements store.Store.
func (s *Store) PeerSession(ctx context.Context, name string, now time.Time) (store.Session, error) {
	if checkText(name) != nil {
		return store.Session{}, fmt.Errorf("peer %q: %w", name, store.ErrNotFound)
	}
	return sqlstore.PeerSession(ctx, querier{s.pool}, name, now)
}

// reapBatch is how many rows, sessions or files, one reaping statement
// deletes: each statement is its own short transaction, so a mass expiry
// (a replica or a network gone, thousands of peers at once) neither holds
// locks nor builds one huge transaction.
const reapBatch = 10_000

// reapTombstone is the expires_at, as SQL, of a session being reaped:
// expired at every now, and no heartbeat can extend it (TouchSession needs
// expires_at > now). Once marked, a session cannot come back while its
// files are deleted batch by batch, even if a replica with a late clock
// heartbeats it. A literal, not a parameter, so that every plan knows it.
const reapTombstone = `-1`

// Reaping statements. The conditions on the target table itself (not only
// in the subquery) are checked again on a row a concurrent heartbeat
// changed.
const (
	sqlReapMark = `UPDATE sessions SET expires_at = ` + reapTombstone + `
		WHERE expires_at <= $1 AND expires_at <> ` + reapTombstone + `
			AND seq IN (SELECT seq FROM sessions WHERE expires_at <= $1 AND expires_at <> ` + reapTombstone + ` LIMIT $2)`
	sqlReapFiles = `DELETE FROM files WHERE id IN (
		SELECT f.id FROM sessions s JOIN files f ON f.session_seq = s.seq
		WHERE s.expires_at = ` + reapTombstone + ` LIMIT $1)`
	sqlReapSessions = `DELETE FROM sessions
		WHERE expires_at = ` + reapTombstone + ` AND seq IN (SELECT seq FROM sessions WHERE expires_at = ` + reapTombstone + ` LIMIT $1)`
)

// ReapExpired implements store.Store. It marks the sessions expired at now
// (reapTombstone), deletes their files, then the sessions, each in
// statements of at most reapBatch rows, and counts the sessions deleted
// (also those an interrupted earlier reap had marked).
func (s *Store) ReapExpired(ctx context.Context, now time.Time) (int, error) {
	batches := func(query string, args ...any) (int64, error) {
		var total int64
		for {
			tag, err := s.pool.Exec(ctx, query, args...)
			if err != nil {
				return total, err
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < reapBatch {
				return total, nil
			}
		}
	}
	if _, err := batches(sqlReapMark, sqlstore.Nanos(now), reapBatch); err != nil {
		return 0, fmt.Errorf("reap sessions: mark expired: %w", err)
	}
	if _, err := batches(sqlReapFiles, reapBatch); err != nil {
		return 0, fmt.Errorf("reap sessions: delete files: %w", err)
	}
	n, err := batches(sqlReapSessions, reapBatch)
	if err != nil {
		return int(n), fmt.Errorf("reap sessions: %w", err)
	}
	return int(n), nil
}

// Stats implements store.Store from the sessions' maintained file counts.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.Stats, error) {
	var st store.Stats
	err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(file_count), 0)::int8 FROM sessions
		WHERE address <> '' AND expires_at > $1`, sqlstore.Nanos(now)).Scan(&st.OnlinePeers, &st.IndexedFiles)
	if err != nil {
		return store.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// ListPeers statements: the first page, and the pages after a peer name.
const (
	listPeersSelect   = `SELECT ` + sqlstore.SessionCols + `, file_count, ` + sqlstore.PinCols + ` FROM sessions s` + sqlstore.PinJoin
	sqlListPeersFirst = listPeersSelect + `
		WHERE address <> '' AND expires_at > $1
		ORDER BY peer_name LIMIT $2`
	sqlListPeersAfter = listPeersSelect + `
		WHERE address <> '' AND expires_at > $1 AND peer_name > $3
		ORDER BY peer_name LIMIT $2`
)

// ListPeers implements store.Store. The page token holds the last peer
// name; the next page starts after it in byte order.
func (s *Store) ListPeers(ctx context.Context, p store.Page, now time.Time) ([]store.Peer, string, error) {
	last, after, err := sqlstore.PeersAfter(tokens, p.Token)
	if err != nil {
		return nil, "", err
	}
	query, args := sqlListPeersFirst, []any{sqlstore.Nanos(now), p.Size + 1}
	if after {
		if checkText(last) != nil {
			return nil, "", fmt.Errorf("page token %q: %w", p.Token, store.ErrInvalidArgument)
		}
		query, args = sqlListPeersAfter, append(args, last)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Peer, error) {
		var pr store.Peer
		var pin string
		var changed int64
		var err error
		pr.Session, err = sqlstore.ScanSession(r, &pr.FileCount, &pin, &changed)
		pr.Pin = sqlstore.PinOf(pin, changed)
		return pr, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list peers: %w", err)
	}
	out, next := sqlstore.PeersPage(tokens, out, p.Size)
	return out, next, nil
}

// BindPeerPin implements store.Store (sqlstore.BindPeerPin, the previous
// pin's row locked).
func (s *Store) BindPeerPin(ctx context.Context, name, pin string, now time.Time) (string, error) {
	if err := checkText(name); err != nil {
		return "", fmt.Errorf("peer name %q: %w", name, store.ErrNotFound)
	}
	var previous string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		previous, err = sqlstore.BindPeerPin(ctx, querier{tx}, name, pin, now, " FOR UPDATE")
		return err
	})
	return previous, err
}

// PeerPins implements store.Store.
func (s *Store) PeerPins(ctx context.Context, names []string) (map[string]store.PeerPin, error) {
	for _, n := range names {
		if checkText(n) != nil {
			return nil, fmt.Errorf("peer name %q: %w", n, store.ErrNotFound)
		}
	}
	return sqlstore.PeerPins(ctx, querier{s.pool}, names)
}
