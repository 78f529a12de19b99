package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
)

// hashLen is the length in bytes of a SHA-256 hash.
const hashLen = 32

// decodeHash returns the 32 bytes of 64 lowercase hex digits. Only that
// form is accepted, so that encodeHash gives back exactly the same string.
func decodeHash(s string) ([]byte, bool) {
	if len(s) != 2*hashLen {
		return nil, false
	}
	out := make([]byte, hashLen)
	for i := range out {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// encodeHash is the inverse of decodeHash.
func encodeHash(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&0xf])
	}
	return sb.String()
}

// utf8ValidNoNUL reports whether s is valid UTF-8 without NUL bytes, the
// strings PostgreSQL's text type can hold.
func utf8ValidNoNUL(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// lower is how names and queries are folded before they reach PostgreSQL,
// whose lower() depends on the database's locale.
func lower(s string) string { return strings.ToLower(s) }

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

// fileRow is a File as stored, compared by ReplaceFiles to skip unchanged
// entries.
type fileRow struct {
	size      int64
	sha256    [hashLen]byte
	pieceSize int32
	pieceRoot [hashLen]byte
	modified  int64
}

// fileCols are a batch of files as column arrays, for unnest().
type fileCols struct {
	names, lowers    []string
	sizes, modifieds []int64
	shas, roots      [][]byte
	pieceSizes       []int32
	rows             []fileRow
}

// encodeFiles checks files (unique names, text PostgreSQL can hold, hashes of
// 64 lowercase hex digits) and returns them as column arrays.
// Errors: ErrInvalidArgument.
func encodeFiles(files []store.File) (*fileCols, error) {
	if err := checkUnique(files); err != nil {
		return nil, err
	}
	c := &fileCols{
		names: make([]string, len(files)), lowers: make([]string, len(files)),
		sizes: make([]int64, len(files)), modifieds: make([]int64, len(files)),
		shas: make([][]byte, len(files)), roots: make([][]byte, len(files)),
		pieceSizes: make([]int32, len(files)), rows: make([]fileRow, len(files)),
	}
	for i, f := range files {
		if !utf8ValidNoNUL(f.Name) {
			return nil, fmt.Errorf("file %q: name is not UTF-8 text without NUL bytes: %w", f.Name, store.ErrInvalidArgument)
		}
		sha, ok1 := decodeHash(f.SHA256)
		root, ok2 := decodeHash(f.PieceRoot)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("file %q: sha256 and piece root must be 64 lowercase hex digits: %w", f.Name, store.ErrInvalidArgument)
		}
		c.names[i], c.lowers[i] = f.Name, lower(f.Name)
		c.sizes[i], c.modifieds[i], c.pieceSizes[i] = f.Size, nanos(f.Modified), f.PieceSize
		c.shas[i], c.roots[i] = sha, root
		c.rows[i] = fileRow{size: f.Size, sha256: [hashLen]byte(sha), pieceSize: f.PieceSize, pieceRoot: [hashLen]byte(root), modified: nanos(f.Modified)}
	}
	return c, nil
}

// pick returns the files at the given indexes as column arrays.
func (c *fileCols) pick(idx []int) *fileCols {
	out := &fileCols{}
	for _, i := range idx {
		out.names = append(out.names, c.names[i])
		out.lowers = append(out.lowers, c.lowers[i])
		out.sizes = append(out.sizes, c.sizes[i])
		out.modifieds = append(out.modifieds, c.modifieds[i])
		out.shas = append(out.shas, c.shas[i])
		out.roots = append(out.roots, c.roots[i])
		out.pieceSizes = append(out.pieceSizes, c.pieceSizes[i])
	}
	return out
}

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

// insertFiles inserts (or, with upsert, adds or changes) c's files.
func insertFiles(ctx context.Context, tx pgx.Tx, seq int64, c *fileCols, upsert bool) error {
	if len(c.names) == 0 {
		return nil
	}
	q := sqlInsertFiles
	if upsert {
		q = sqlUpsertFiles
	}
	_, err := tx.Exec(ctx, q, seq, c.names, c.lowers, c.sizes, c.shas, c.pieceSizes, c.roots, c.modifieds)
	return err
}

// livePeer locks a live peer session's row and returns its seq and file
// count, or ErrNotFound. The lock (FOR NO KEY UPDATE: it does not block the
// foreign-key checks of the files inserted next) serializes every change of
// one peer's index, so file_count stays exact.
func livePeer(ctx context.Context, tx pgx.Tx, id string, now time.Time) (seq, count int64, err error) {
	if checkText(id) != nil {
		return 0, 0, fmt.Errorf("peer session %q: %w", id, store.ErrNotFound)
	}
	err = tx.QueryRow(ctx,
		`SELECT seq, file_count FROM sessions WHERE id = $1 AND expires_at > $2 AND address <> '' FOR NO KEY UPDATE`,
		id, nanos(now)).Scan(&seq, &count)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fmt.Errorf("peer session %s: %w", id, store.ErrNotFound)
	}
	return seq, count, err
}

// loadRows returns a session's stored files by name.
func loadRows(ctx context.Context, tx pgx.Tx, seq int64) (map[string]fileRow, error) {
	rows, err := tx.Query(ctx,
		`SELECT name, size, sha256, piece_size, piece_root, modified FROM files WHERE session_seq = $1`, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]fileRow)
	var name string
	var sha, root []byte
	var r fileRow
	for rows.Next() {
		if err := rows.Scan(&name, &r.size, &sha, &r.pieceSize, &root, &r.modified); err != nil {
			return nil, err
		}
		copy(r.sha256[:], sha)
		copy(r.pieceRoot[:], root)
		out[name] = r
	}
	return out, rows.Err()
}

// ReplaceFiles implements store.Store. It writes only the difference from the
// stored index: a peer that republishes a mostly unchanged snapshot costs
// few index writes, and unchanged entries keep their ids (and so their place
// in search order).
func (s *Store) ReplaceFiles(ctx context.Context, sessionID string, files []store.File, maxPeerFiles int, now time.Time) (int64, error) {
	c, err := encodeFiles(files)
	if err != nil {
		return 0, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
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
		var ins, upd []int
		for i, name := range c.names {
			o, ok := old[name]
			switch {
			case !ok:
				ins = append(ins, i)
			case o != c.rows[i]:
				upd = append(upd, i)
			}
			delete(old, name)
		}
		if len(old) > 0 {
			gone := make([]string, 0, len(old))
			for name := range old {
				gone = append(gone, name)
			}
			if _, err := tx.Exec(ctx, sqlDeleteFiles, seq, gone); err != nil {
				return err
			}
		}
		if len(upd) > 0 {
			u := c.pick(upd)
			if _, err := tx.Exec(ctx, sqlUpdateFiles, seq, u.names, u.sizes, u.shas, u.pieceSizes, u.roots, u.modifieds); err != nil {
				return err
			}
		}
		if err := insertFiles(ctx, tx, seq, c.pick(ins), false); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET file_count = $1 WHERE seq = $2`, len(files), seq)
		return err
	})
	if err != nil {
		return 0, wrapWrite("replace files of session", sessionID, err)
	}
	return int64(len(files)), nil
}

// ApplyDelta implements store.Store. The new count is the old one, minus the
// rows the removal deleted, plus the added names not stored yet; over the
// limit, the transaction is rolled back, so nothing changes.
func (s *Store) ApplyDelta(ctx context.Context, sessionID string, added []store.File, removed []string, maxPeerFiles int, now time.Time) (int64, error) {
	c, err := encodeFiles(added)
	if err != nil {
		return 0, err
	}
	// A name text cannot hold is not stored: removing it is a no-op.
	rm := make([]string, 0, len(removed))
	for _, name := range removed {
		if utf8ValidNoNUL(name) {
			rm = append(rm, name)
		}
	}
	var count int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		seq, n, err := livePeer(ctx, tx, sessionID, now)
		if err != nil {
			return err
		}
		if len(rm) > 0 {
			tag, err := tx.Exec(ctx, sqlDeleteFiles, seq, rm)
			if err != nil {
				return err
			}
			n -= tag.RowsAffected()
		}
		if len(c.names) > 0 {
			var existing int64
			if err := tx.QueryRow(ctx, sqlCountFiles, seq, c.names).Scan(&existing); err != nil {
				return err
			}
			n += int64(len(c.names)) - existing
			if n > int64(maxPeerFiles) {
				return fmt.Errorf("peer session %s: %d files, at most %d: %w", sessionID, n, maxPeerFiles, store.ErrLimit)
			}
			if err := insertFiles(ctx, tx, seq, c, true); err != nil {
				return err
			}
		}
		count = n
		_, err = tx.Exec(ctx, `UPDATE sessions SET file_count = $1 WHERE seq = $2`, n, seq)
		return err
	})
	if err != nil {
		return 0, wrapWrite("apply delta to session", sessionID, err)
	}
	return count, nil
}

// BulkLoad adds new peer sessions with their files in one transaction, for
// seeding a store quickly (benchmarks, imports): the files go in with COPY.
// files[i] belongs to sessions[i]. It checks no peer-name or liveness rules
// beyond the schema's (an id or a peer name already stored fails the whole
// batch), so it is meant for an empty store or disjoint data.
func (s *Store) BulkLoad(ctx context.Context, sessions []store.Session, files [][]store.File) error {
	if len(files) != len(sessions) {
		return fmt.Errorf("bulk load: %d sessions, %d file lists: %w", len(sessions), len(files), store.ErrInvalidArgument)
	}
	cols := make([]*fileCols, len(files))
	for i, fs := range files {
		c, err := encodeFiles(fs)
		if err != nil {
			return fmt.Errorf("bulk load: %w", err)
		}
		cols[i] = c
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var ids, users, peers, addrs []string
		var created, seen, expires, counts []int64
		for i, ss := range sessions {
			ids, users, peers, addrs = append(ids, ss.ID), append(users, ss.Username), append(peers, ss.PeerName), append(addrs, ss.Address)
			created, seen, expires = append(created, nanos(ss.Created)), append(seen, nanos(ss.LastSeen)), append(expires, nanos(ss.ExpiresAt))
			counts = append(counts, int64(len(files[i])))
		}
		rows, err := tx.Query(ctx, `INSERT INTO sessions (id, username, peer_name, address, created, last_seen, expires_at, file_count)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[], $8::int8[])
			RETURNING id, seq`, ids, users, peers, addrs, created, seen, expires, counts)
		if err != nil {
			return err
		}
		seqs := make(map[string]int64, len(sessions))
		var id string
		var seq int64
		_, err = pgx.ForEachRow(rows, []any{&id, &seq}, func() error { seqs[id] = seq; return nil })
		if err != nil {
			return err
		}
		var src [][]any
		for i, ss := range sessions {
			c := cols[i]
			for j := range c.names {
				src = append(src, []any{seqs[ss.ID], c.names[j], c.lowers[j], c.sizes[j], c.shas[j], c.pieceSizes[j], c.roots[j], c.modifieds[j]})
			}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"files"},
			[]string{"session_seq", "name", "name_lower", "size", "sha256", "piece_size", "piece_root", "modified"},
			pgx.CopyFromRows(src))
		return err
	})
	if err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	// Fresh statistics, so that the planner sizes the new index right
	// away instead of after autovacuum's next pass.
	if _, err := s.pool.Exec(ctx, `ANALYZE sessions, files`); err != nil {
		return fmt.Errorf("bulk load: analyze: %w", err)
	}
	return nil
}

// ListFiles statements: every peer or one, first page or after a position.
// "s.peer_name >= $2" beside the row comparison lets the peer-name index
// skip the sessions before the page.
const (
	fileSelect = `SELECT s.peer_name, s.address, f.name, f.size, f.sha256, f.piece_size, f.piece_root, f.modified
		FROM sessions s JOIN files f ON f.session_seq = s.seq
		WHERE s.address <> '' AND s.expires_at > $1`

	sqlListFilesAllFirst = fileSelect + `
		ORDER BY s.peer_name, f.name LIMIT $2`
	sqlListFilesAllAfter = fileSelect + ` AND s.peer_name >= $3 AND (s.peer_name, f.name) > ($3, $4)
		ORDER BY s.peer_name, f.name LIMIT $2`
	sqlListFilesPeerFirst = fileSelect + ` AND s.peer_name = $3
		ORDER BY f.name LIMIT $2`
	sqlListFilesPeerAfter = fileSelect + ` AND s.peer_name = $3 AND f.name > $4
		ORDER BY f.name LIMIT $2`
)

// ListFiles implements store.Store. The page token holds the last (peer,
// name); the next page starts after it in byte order.
func (s *Store) ListFiles(ctx context.Context, peer string, p store.Page, now time.Time) ([]store.PeerFile, string, error) {
	bind := pagetoken.Hash("files", peer)
	if checkText(peer) != nil {
		// No peer has that name; still refuse a bad token first.
		if p.Token != "" {
			if _, err := tokens.Decode(p.Token, bind); err != nil {
				return nil, "", err
			}
		}
		return nil, "", nil
	}
	fromPeer, fromName := peer, ""
	after := p.Token != ""
	if after {
		payload, err := tokens.Decode(p.Token, bind)
		if err != nil {
			return nil, "", err
		}
		lastPeer, rest, err1 := pagetoken.ReadString(payload)
		lastName, rest, err2 := pagetoken.ReadString(rest)
		if err1 != nil || err2 != nil || len(rest) != 0 || (peer != "" && lastPeer != peer) ||
			checkText(lastPeer) != nil || checkText(lastName) != nil {
			return nil, "", fmt.Errorf("page token %q: %w", p.Token, store.ErrInvalidArgument)
		}
		fromPeer, fromName = lastPeer, lastName
	}
	args := []any{nanos(now), p.Size + 1}
	var query string
	switch {
	case peer != "" && after:
		query, args = sqlListFilesPeerAfter, append(args, peer, fromName)
	case peer != "":
		query, args = sqlListFilesPeerFirst, append(args, peer)
	case after:
		query, args = sqlListFilesAllAfter, append(args, fromPeer, fromName)
	default:
		query = sqlListFilesAllFirst
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PeerFile, error) {
		var pf store.PeerFile
		var modified int64
		var sha, root []byte
		err := r.Scan(&pf.Peer, &pf.Address, &pf.File.Name, &pf.File.Size, &sha, &pf.File.PieceSize, &root, &modified)
		pf.File.SHA256, pf.File.PieceRoot, pf.File.Modified = encodeHash(sha), encodeHash(root), fromNanos(modified)
		return pf, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	if len(out) <= p.Size {
		return out, "", nil
	}
	out = out[:p.Size]
	last := out[len(out)-1]
	return out, tokens.Encode(bind, pagetoken.AppendString(pagetoken.AppendString(nil, last.Peer), last.File.Name)), nil
}
