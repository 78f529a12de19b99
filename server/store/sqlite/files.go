package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
)

// checkUnique returns ErrInvalidArgument if two files share a name.
func checkUnique(files []store.File) error {
	seen := make(map[string]struct{}, len(files))
	for _, f := range files {
		if _, ok := seen[f.Name]; ok {
			return fmt.Errorf("file %q listed twice: %w", f.Name, store.ErrInvalidArgument)
		}
		seen[f.Name] = struct{}{}
	}
	return nil
}

// livePeer returns the seq and file count of a live peer session, or
// ErrNotFound.
func livePeer(ctx context.Context, tx *sql.Tx, id string, now time.Time) (seq, count int64, err error) {
	err = tx.QueryRowContext(ctx,
		`SELECT seq, file_count FROM sessions WHERE id = ?1 AND expires_at > ?2 AND address <> ''`, id, nanos(now)).
		Scan(&seq, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("peer session %s: %w", id, store.ErrNotFound)
	}
	return seq, count, err
}

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
	return fileRow{f.Size, f.SHA256, int64(f.PieceSize), f.PieceRoot, nanos(f.Modified)}
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
		rows[i] = [7]any{f.Name, lower(f.Name), r.size, r.sha256, r.pieceSize, r.pieceRoot, r.modified}
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
		if err := checkUnique(fs); err != nil {
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
				nanos(ss.Created), nanos(ss.LastSeen), nanos(ss.ExpiresAt), len(files[i])).Scan(&seq)
			if err != nil {
				return fmt.Errorf("session %s: %w", ss.ID, err)
			}
			for _, f := range files[i] {
				r := rowOf(f)
				rows = append(rows, [8]any{seq, f.Name, lower(f.Name), r.size, r.sha256, r.pieceSize, r.pieceRoot, r.modified})
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

// ReplaceFiles implements store.Store. It writes only the difference from the
// stored index: a peer that republishes a mostly unchanged snapshot costs
// few index writes, and unchanged entries keep their row ids (and so their
// place in search order).
func (s *Store) ReplaceFiles(ctx context.Context, sessionID string, files []store.File, maxPeerFiles int, now time.Time) (int64, error) {
	if err := checkUnique(files); err != nil {
		return 0, err
	}
	inserted := 0
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		seq, _, err := livePeer(ctx, tx, sessionID, now)
		if err != nil {
			return err
		}
		if len(files) > maxPeerFiles {
			return fmt.Errorf("peer session %s: %d files, at most %d: %w", sessionID, len(files), maxPeerFiles, store.ErrLimit)
		}
		old, err := loadRows(ctx, tx, seq)
		if err != nil {
			return err
		}
		var ins, upd []store.File
		for _, f := range files {
			o, ok := old[f.Name]
			switch {
			case !ok:
				ins = append(ins, f)
			case o != rowOf(f):
				upd = append(upd, f)
			}
			delete(old, f.Name)
		}
		gone := make([]string, 0, len(old))
		for name := range old {
			gone = append(gone, name)
		}
		if len(gone) > 0 && len(ins) == len(files) {
			// Nothing kept: drop by session, without a name list.
			if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE session_seq = ?1`, seq); err != nil {
				return err
			}
		} else if err := execJSON(ctx, tx, sqlDeleteFiles, seq, gone, namesJSON); err != nil {
			return err
		}
		// New and changed entries in one statement: the upsert inserts
		// the former and updates the latter in place.
		if err := execJSON(ctx, tx, sqlUpsertFiles, seq, append(ins, upd...), filesJSON); err != nil {
			return err
		}
		inserted = len(ins)
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET file_count = ?1 WHERE seq = ?2`, len(files), seq)
		return err
	})
	if err != nil {
		return 0, wrapWrite("replace files of session", sessionID, err)
	}
	s.noteInserted(inserted)
	return int64(len(files)), nil
}

// execJSON runs a batched statement on items, unless there are none.
func execJSON[T any](ctx context.Context, tx *sql.Tx, query string, seq int64, items []T, enc func([]T) (string, error)) error {
	if len(items) == 0 {
		return nil
	}
	j, err := enc(items)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, query, seq, j)
	return err
}

// loadRows returns a session's stored files by name.
func loadRows(ctx context.Context, tx *sql.Tx, seq int64) (map[string]fileRow, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT name, size, sha256, piece_size, piece_root, modified FROM files WHERE session_seq = ?1`, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]fileRow)
	for rows.Next() {
		var name string
		var r fileRow
		if err := rows.Scan(&name, &r.size, &r.sha256, &r.pieceSize, &r.pieceRoot, &r.modified); err != nil {
			return nil, err
		}
		out[name] = r
	}
	return out, rows.Err()
}

// ApplyDelta implements store.Store. The new count is the old one, minus the
// rows the removal deleted, plus the added names not stored yet; over the
// limit, the transaction is rolled back, so nothing changes.
func (s *Store) ApplyDelta(ctx context.Context, sessionID string, added []store.File, removed []string, maxPeerFiles int, now time.Time) (int64, error) {
	if err := checkUnique(added); err != nil {
		return 0, err
	}
	addedJSON, err := filesJSON(added)
	if err != nil {
		return 0, err
	}
	removedJSON, err := namesJSON(removed)
	if err != nil {
		return 0, err
	}
	addedNames := make([]string, len(added))
	for i, f := range added {
		addedNames[i] = f.Name
	}
	addedNamesJSON, err := namesJSON(addedNames)
	if err != nil {
		return 0, err
	}
	var count int64
	err = s.inWrite(ctx, func(tx *sql.Tx) error {
		seq, n, err := livePeer(ctx, tx, sessionID, now)
		if err != nil {
			return err
		}
		if len(removed) > 0 {
			res, err := tx.ExecContext(ctx, sqlDeleteFiles, seq, removedJSON)
			if err != nil {
				return err
			}
			gone, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n -= gone
		}
		if len(added) > 0 {
			var existing int64
			if err := tx.QueryRowContext(ctx, sqlCountFiles, seq, addedNamesJSON).Scan(&existing); err != nil {
				return err
			}
			n += int64(len(added)) - existing
			if n > int64(maxPeerFiles) {
				return fmt.Errorf("peer session %s: %d files, at most %d: %w", sessionID, n, maxPeerFiles, store.ErrLimit)
			}
			if _, err := tx.ExecContext(ctx, sqlUpsertFiles, seq, addedJSON); err != nil {
				return err
			}
		}
		count = n
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET file_count = ?1 WHERE seq = ?2`, n, seq)
		return err
	})
	if err != nil {
		return 0, wrapWrite("apply delta to session", sessionID, err)
	}
	s.noteInserted(len(added))
	return count, nil
}

// wrapWrite adds context to a database error; store sentinels already carry
// theirs.
func wrapWrite(what, id string, err error) error {
	for _, sentinel := range []error{store.ErrNotFound, store.ErrLimit, store.ErrInvalidArgument, store.ErrAlreadyExists} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return fmt.Errorf("%s %s: %w", what, id, err)
}

// ListFiles implements store.Store. The page token holds the last (peer,
// name); the next page starts just after it in byte order.
func (s *Store) ListFiles(ctx context.Context, peer string, p store.Page, now time.Time) ([]store.PeerFile, string, error) {
	bind := pagetoken.Hash("files", peer)
	fromPeer, fromName := peer, ""
	if p.Token != "" {
		payload, err := tokens.Decode(p.Token, bind)
		if err != nil {
			return nil, "", err
		}
		lastPeer, rest, err1 := pagetoken.ReadString(payload)
		lastName, rest, err2 := pagetoken.ReadString(rest)
		if err1 != nil || err2 != nil || len(rest) != 0 || (peer != "" && lastPeer != peer) {
			return nil, "", fmt.Errorf("page token %q: %w", p.Token, store.ErrInvalidArgument)
		}
		fromPeer, fromName = lastPeer, lastName+"\x00"
	}
	var rows *sql.Rows
	var err error
	if peer != "" {
		rows, err = s.listFilesPeer.QueryContext(ctx, nanos(now), peer, fromName, p.Size+1)
	} else {
		rows, err = s.listFilesAll.QueryContext(ctx, nanos(now), fromPeer, fromName, p.Size+1)
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
			&pf.File.PieceSize, &pf.File.PieceRoot, &modified); err != nil {
			return nil, "", fmt.Errorf("list files: %w", err)
		}
		pf.File.Modified = fromNanos(modified)
		out = append(out, pf)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	if len(out) <= p.Size {
		return out, "", nil
	}
	out = out[:p.Size]
	last := out[len(out)-1]
	return out, tokens.Encode(bind, pagetoken.AppendString(pagetoken.AppendString(nil, last.Peer), last.File.Name)), nil
}
