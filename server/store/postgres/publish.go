package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// Batched file statements: a whole batch is one statement over column
// arrays, not a statement per row.
const (
	sqlInsertFiles = `INSERT INTO files (session_seq, name, name_lower, size, sha256, piece_size, piece_root, modified)
		SELECT $1, u.name, u.name_lower, u.size, u.sha256, u.piece_size, u.piece_root, u.modified
		FROM unnest($2::text[], $3::text[], $4::int8[], $5::bytea[], $6::int4[], $7::bytea[], $8::int8[])
			AS u (name, name_lower, size, sha256, piece_size, piece_root, modified)`

	// An upsert keeps the row (and its id, its place in search order);
	// an entry that did not change is not written at all.
	sqlUpsertFiles = sqlInsertFiles + `
		ON CONFLICT (session_seq, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
			piece_size = excluded.piece_size, piece_root = excluded.piece_root, modified = excluded.modified
		WHERE (files.size, files.sha256, files.piece_size, files.piece_root, files.modified)
			IS DISTINCT FROM (excluded.size, excluded.sha256, excluded.piece_size, excluded.piece_root, excluded.modified)`

	sqlUpdateFiles = `UPDATE files SET size = u.size, sha256 = u.sha256, piece_size = u.piece_size,
			piece_root = u.piece_root, modified = u.modified
		FROM unnest($2::text[], $3::int8[], $4::bytea[], $5::int4[], $6::bytea[], $7::int8[])
			AS u (name, size, sha256, piece_size, piece_root, modified)
		WHERE files.session_seq = $1 AND files.name = u.name`

	sqlDeleteFiles = `DELETE FROM files WHERE session_seq = $1 AND name = ANY($2::text[])`

	sqlCountFiles = `SELECT count(*) FROM files WHERE session_seq = $1 AND name = ANY($2::text[])`
)

// ReplaceFiles implements store.Store: sqlstore.ReplaceFiles writes only
// the difference from the stored index.
func (s *Store) ReplaceFiles(ctx context.Context, sessionID string, files []store.File, limits store.FileLimits, now time.Time) (int64, error) {
	c, err := encodeFiles(files)
	if err != nil {
		return 0, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := sqlstore.ReplaceFiles(ctx, &change{tx: tx, files: c}, sessionID, files, limits, now)
		return err
	})
	if err != nil {
		return 0, sqlstore.WrapWrite("replace files of session", sessionID, err)
	}
	return int64(len(files)), nil
}

// ApplyDelta implements store.Store (sqlstore.ApplyDelta).
func (s *Store) ApplyDelta(ctx context.Context, sessionID string, added []store.File, removed []string, limits store.FileLimits, now time.Time) (int64, error) {
	c, err := encodeFiles(added)
	if err != nil {
		return 0, err
	}
	var count int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		count, err = sqlstore.ApplyDelta(ctx, &change{tx: tx, files: c}, sessionID, len(added), removed, limits, now)
		return err
	})
	if err != nil {
		return 0, sqlstore.WrapWrite("apply delta to session", sessionID, err)
	}
	return count, nil
}

// change is a publish inside a transaction (sqlstore.Change).
type change struct {
	tx    pgx.Tx
	files *fileCols
}

var _ sqlstore.Change[fileRow] = (*change)(nil)

// sqlLockAccount locks the account of session $1 as a login does
// (sessionLocks.Account), so that the account's publishes and logins take
// turns and the sum of its peers' file counts holds (AccountFiles).
const sqlLockAccount = `SELECT 1 FROM accounts WHERE name = (SELECT username FROM sessions WHERE id = $1) FOR NO KEY UPDATE`

// LivePeer locks the session's account, then the session's row: the lock
// (FOR NO KEY UPDATE: it does not block the foreign-key checks of the files
// inserted next) serializes every change of one peer's index, so file_count
// stays exact. The order, account then session, is a login's.
func (c *change) LivePeer(ctx context.Context, id string, now time.Time) (seq, count int64, err error) {
	if checkText(id) != nil {
		return 0, 0, fmt.Errorf("peer session %q: %w", id, store.ErrNotFound)
	}
	var one int
	if err := c.tx.QueryRow(ctx, sqlLockAccount, id).Scan(&one); err != nil {
		return 0, 0, err // no such session (ErrNoRows), or a failure
	}
	err = c.tx.QueryRow(ctx, sqlstore.SQLLivePeer+` FOR NO KEY UPDATE`, id, sqlstore.Nanos(now)).Scan(&seq, &count)
	return seq, count, err
}

// AccountFiles reads the counts under the account lock LivePeer took.
func (c *change) AccountFiles(ctx context.Context, seq int64, now time.Time) (int64, error) {
	var n int64
	err := c.tx.QueryRow(ctx, sqlstore.SQLAccountFiles, seq, sqlstore.Nanos(now)).Scan(&n)
	return n, err
}

func (c *change) Stored(ctx context.Context, seq int64) (map[string]fileRow, error) {
	var sha, root []byte // reused from row to row
	return sqlstore.StoredFiles(ctx, querier{c.tx}, seq, func(row sqlstore.Row, name *string) (fileRow, error) {
		var r fileRow
		err := row.Scan(name, &r.size, &sha, &r.pieceSize, &root, &r.modified)
		copy(r.sha256[:], sha)
		copy(r.pieceRoot[:], root)
		return r, err
	})
}

func (c *change) Row(i int) fileRow { return c.files.rows[i] }

// Write deletes the gone entries, updates the changed ones, and inserts
// the new ones, a statement each.
func (c *change) Write(ctx context.Context, seq int64, d sqlstore.Diff) error {
	if _, err := c.Remove(ctx, seq, d.Gone); err != nil {
		return err
	}
	if len(d.Update) > 0 {
		u := c.files.pick(d.Update)
		if _, err := c.tx.Exec(ctx, sqlUpdateFiles, seq, u.names, u.sizes, u.shas, u.pieceSizes, u.roots, u.modifieds); err != nil {
			return err
		}
	}
	return c.insert(ctx, seq, c.files.pick(d.Insert), sqlInsertFiles)
}

// Remove ignores the names text cannot hold: they are not stored.
func (c *change) Remove(ctx context.Context, seq int64, names []string) (int64, error) {
	rm := make([]string, 0, len(names))
	for _, name := range names {
		if utf8ValidNoNUL(name) {
			rm = append(rm, name)
		}
	}
	if len(rm) == 0 {
		return 0, nil
	}
	tag, err := c.tx.Exec(ctx, sqlDeleteFiles, seq, rm)
	return tag.RowsAffected(), err
}

func (c *change) CountStored(ctx context.Context, seq int64) (int64, error) {
	var n int64
	err := c.tx.QueryRow(ctx, sqlCountFiles, seq, c.files.names).Scan(&n)
	return n, err
}

func (c *change) Upsert(ctx context.Context, seq int64) error {
	return c.insert(ctx, seq, c.files, sqlUpsertFiles)
}

// insert runs sqlInsertFiles or sqlUpsertFiles on files, unless there are
// none.
func (c *change) insert(ctx context.Context, seq int64, files *fileCols, query string) error {
	if len(files.names) == 0 {
		return nil
	}
	_, err := c.tx.Exec(ctx, query, seq, files.names, files.lowers, files.sizes, files.shas, files.pieceSizes, files.roots, files.modifieds)
	return err
}

func (c *change) SetCount(ctx context.Context, seq, n int64) error {
	_, err := c.tx.Exec(ctx, sqlstore.SQLSetFileCount, n, seq)
	return err
}
