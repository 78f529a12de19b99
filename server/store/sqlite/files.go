package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// fileRow is the stored part of a File that ReplaceFiles compares to skip
// unchanged entries.
type fileRow struct {
	size      int64
	sha256    string
	pieceSize int64
	pieceRoot string
	modified  int64
}

func rowOf(f store.File) fileRow {
	return fileRow{f.Size, f.SHA256, int64(f.PieceSize), f.PieceRoot, sqlstore.Nanos(f.Modified)}
}

// Batched file statements. Rows travel as one JSON array bound to ?2 so a
// whole batch is one statement: FTS5 flushes its pending index data to a new
// segment at every statement of a transaction, so a statement per row would
// write (and then merge) a segment per row.
const (
	// ?2: [[name, name_lower, size, sha256, piece_size, piece_root, modified], ...]
	jsonFileCols = `j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6`

	sqlInsertFiles = `INSERT INTO files (session_seq, name, name_lower, size, sha256, piece_size, piece_root, modified)
		SELECT ?1, ` + jsonFileCols + ` FROM json_each(?2) j`

	// sqlUpsertFiles also serves plain updates: driven by the JSON rows,
	// each finds its row through the (session_seq, name) index, where an
	// UPDATE ... FROM would scan the batch for every row. "WHERE true"
	// resolves the parsing ambiguity of an upsert on a SELECT.
	sqlUpsertFiles = sqlInsertFiles + ` WHERE true
		ON CONFLICT (session_seq, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
			piece_size = excluded.piece_size, piece_root = excluded.piece_root, modified = excluded.modified`

	// ?2: [name, ...]
	sqlDeleteFiles = `DELETE FROM files WHERE session_seq = ?1 AND name IN (SELECT value FROM json_each(?2))`

	sqlCountFiles = `SELECT count(*) FROM files WHERE session_seq = ?1 AND name IN (SELECT value FROM json_each(?2))`
)

// filesJSON encodes files for the batched statements. JSON can only carry
// valid UTF-8, so other names are refused rather than silently altered.
func filesJSON(files []store.File) (string, error) {
	rows := make([][7]any, len(files))
	for i, f := range files {
		for _, s := range []string{f.Name, f.SHA256, f.PieceRoot} {
			if !utf8.ValidString(s) {
				return "", fmt.Errorf("file %q: not UTF-8: %w", f.Name, store.ErrInvalidArgument)
			}
		}
		r := rowOf(f)
		rows[i] = [7]any{f.Name, sqlstore.Lower(f.Name), r.size, r.sha256, r.pieceSize, r.pieceRoot, r.modified}
	}
	b, err := json.Marshal(rows)
	return string(b), err
}

// BulkLoad adds new peer sessions with their files in one transaction, for
// seeding a store quickly (benchmarks, imports): one statement per batch
// instead of a transaction per peer. files[i] belongs to sessions[i]. It
// checks no peer-name or liveness rules beyond the schema's (an id or a peer
// name already stored fails the whole batch), so it is meant for an empty
// store or disjoint data.
func (s *Store) BulkLoad(ctx context.Context, sessions []store.Session, files [][]store.File) error {
	if len(files) != len(sessions) {
		return fmt.Errorf("bulk load: %d sessions, %d file lists: %w", len(sessions), len(files), store.ErrInvalidArgument)
	}
	var rows [][8]any
	for _, fs := range files {
		if err := sqlstore.CheckUnique(fs); err != nil {
			return err
		}
		for _, f := range fs {
			for _, s := range []string{f.Name, f.SHA256, f.PieceRoot} {
				if !utf8.ValidString(s) {
					return fmt.Errorf("file %q: not UTF-8: %w", f.Name, store.ErrInvalidArgument)
				}
			}
		}
	}
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO sessions (id, username, peer_name, address, created, last_seen, expires_at, file_count)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i, ss := range sessions {
			var seq int64
			err := ins.QueryRowContext(ctx, ss.ID, ss.Username, ss.PeerName, ss.Address,
				sqlstore.Nanos(ss.Created), sqlstore.Nanos(ss.LastSeen), sqlstore.Nanos(ss.ExpiresAt), len(files[i])).Scan(&seq)
			if err != nil {
				return fmt.Errorf("session %s: %w", ss.ID, err)
			}
			for _, f := range files[i] {
				r := rowOf(f)
				rows = append(rows, [8]any{seq, f.Name, sqlstore.Lower(f.Name), r.size, r.sha256, r.pieceSize, r.pieceRoot, r.modified})
			}
		}
		j, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO files (session_seq, name, name_lower, size, sha256, piece_size, piece_root, modified)
			SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6, j.value ->> 7
			FROM json_each(?1) j`, string(j))
		return err
	})
	if err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	s.noteInserted(len(rows))
	return nil
}

// namesJSON encodes names for the batched statements.
func namesJSON(names []string) (string, error) {
	for _, n := range names {
		if !utf8.ValidString(n) {
			return "", fmt.Errorf("file %q: not UTF-8: %w", n, store.ErrInvalidArgument)
		}
	}
	b, err := json.Marshal(names)
	return string(b), err
}

// ReplaceFiles implements store.Store: sqlstore.ReplaceFiles writes only
// the difference from the stored index.
func (s *Store) ReplaceFiles(ctx context.Context, sessionID string, files []store.File, limits store.FileLimits, now time.Time) (int64, error) {
	if err := sqlstore.CheckUnique(files); err != nil {
		return 0, err
	}
	var d sqlstore.Diff
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = sqlstore.ReplaceFiles(ctx, &change{tx: tx, files: files}, sessionID, files, limits, now)
		return err
	})
	if err != nil {
		return 0, sqlstore.WrapWrite("replace files of session", sessionID, err)
	}
	s.noteInserted(len(d.Insert))
	return int64(len(files)), nil
}

// ApplyDelta implements store.Store (sqlstore.ApplyDelta).
func (s *Store) ApplyDelta(ctx context.Context, sessionID string, added []store.File, removed []string, limits store.FileLimits, now time.Time) (int64, error) {
	if err := sqlstore.CheckUnique(added); err != nil {
		return 0, err
	}
	addedJSON, err := filesJSON(added)
	if err != nil {
		return 0, err
	}
	var count int64
	err = s.inWrite(ctx, func(tx *sql.Tx) error {
		var err error
		count, err = sqlstore.ApplyDelta(ctx, &change{tx: tx, files: added, filesJSON: addedJSON}, sessionID, len(added), removed, limits, now)
		return err
	})
	if err != nil {
		return 0, sqlstore.WrapWrite("apply delta to session", sessionID, err)
	}
	s.noteInserted(len(added))
	return count, nil
}

// change is a publish inside the write transaction (sqlstore.Change).
type change struct {
	tx    *sql.Tx
	files []store.File
	// filesJSON is files for the batched statements, encoded before the
	// transaction; empty until then.
	filesJSON string
}

var _ sqlstore.Change[fileRow] = (*change)(nil)

func (c *change) LivePeer(ctx context.Context, id string, now time.Time) (seq, count int64, err error) {
	err = c.tx.QueryRowContext(ctx, sqlstore.SQLLivePeer, id, sqlstore.Nanos(now)).Scan(&seq, &count)
	return seq, count, err
}

func (c *change) Stored(ctx context.Context, seq int64) (map[string]fileRow, error) {
	return sqlstore.StoredFiles(ctx, sqlstore.Std(c.tx), seq, func(row sqlstore.Row, name *string) (fileRow, error) {
		var r fileRow
		err := row.Scan(name, &r.size, &r.sha256, &r.pieceSize, &r.pieceRoot, &r.modified)
		return r, err
	})
}

func (c *change) Row(i int) fileRow { return rowOf(c.files[i]) }

// Write deletes the gone entries, then inserts the new ones and updates
// the changed ones with one upsert.
func (c *change) Write(ctx context.Context, seq int64, d sqlstore.Diff) error {
	if len(d.Gone) > 0 && len(d.Insert) == len(c.files) {
		// Nothing kept: drop by session, without a name list.
		if _, err := c.tx.ExecContext(ctx, `DELETE FROM files WHERE session_seq = ?1`, seq); err != nil {
			return err
		}
	} else if _, err := c.Remove(ctx, seq, d.Gone); err != nil {
		return err
	}
	changed := make([]store.File, 0, len(d.Insert)+len(d.Update))
	for _, i := range append(d.Insert, d.Update...) {
		changed = append(changed, c.files[i])
	}
	if len(changed) == 0 {
		return nil
	}
	j, err := filesJSON(changed)
	if err != nil {
		return err
	}
	_, err = c.tx.ExecContext(ctx, sqlUpsertFiles, seq, j)
	return err
}

func (c *change) Remove(ctx context.Context, seq int64, names []string) (int64, error) {
	if len(names) == 0 {
		return 0, nil
	}
	j, err := namesJSON(names)
	if err != nil {
		return 0, err
	}
	res, err := c.tx.ExecContext(ctx, sqlDeleteFiles, seq, j)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c *change) CountStored(ctx context.Context, seq int64) (int64, error) {
	names := make([]string, len(c.files))
	for i, f := range c.files {
		names[i] = f.Name
	}
	j, err := namesJSON(names)
	if err != nil {
		return 0, err
	}
	var n int64
	err = c.tx.QueryRowContext(ctx, sqlCountFiles, seq, j).Scan(&n)
	return n, err
}

func (c *change) Upsert(ctx context.Context, seq int64) error {
	_, err := c.tx.ExecContext(ctx, sqlUpsertFiles, seq, c.filesJSON)
	return err
}

func (c *change) SetCount(ctx context.Context, seq, n int64) error {
	_, err := c.tx.ExecContext(ctx, sqlstore.SQLSetFileCount, n, seq)
	return err
}

// AccountFiles needs no lock: the single write connection serializes
// publishes.
func (c *change) AccountFiles(ctx context.Context, seq int64, now time.Time) (int64, error) {
	var n int64
	err := c.tx.QueryRowContext(ctx, sqlstore.SQLAccountFiles, seq, sqlstore.Nanos(now)).Scan(&n)
	return n, err
}

// ListFiles implements store.Store. The page token holds the last (peer,
// name); the next page starts just after it in byte order.
func (s *Store) ListFiles(ctx context.Context, peer string, p store.Page, now time.Time) ([]store.PeerFile, string, error) {
	lastPeer, lastName, after, err := sqlstore.FilesAfter(tokens, peer, p.Token)
	if err != nil {
		return nil, "", err
	}
	fromPeer, fromName := peer, ""
	if after {
		fromPeer, fromName = lastPeer, lastName+"\x00"
	}
	var rows *sql.Rows
	if peer != "" {
		rows, err = s.listFilesPeer.QueryContext(ctx, sqlstore.Nanos(now), peer, fromName, p.Size+1)
	} else {
		rows, err = s.listFilesAll.QueryContext(ctx, sqlstore.Nanos(now), fromPeer, fromName, p.Size+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	var out []store.PeerFile
	for rows.Next() {
		var pf store.PeerFile
		var modified int64
		if err := rows.Scan(&pf.Peer, &pf.Address, &pf.File.Name, &pf.File.Size, &pf.File.SHA256,
			&pf.File.PieceSize, &pf.File.PieceRoot, &modified, &pf.Pin); err != nil {
			return nil, "", fmt.Errorf("list files: %w", err)
		}
		pf.File.Modified = sqlstore.FromNanos(modified)
		out = append(out, pf)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	out, next := sqlstore.FilesPage(tokens, peer, out, p.Size)
	return out, next, nil
}
