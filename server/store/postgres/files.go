package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
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
	if err := sqlstore.CheckUnique(files); err != nil {
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
		c.names[i], c.lowers[i] = f.Name, sqlstore.Lower(f.Name)
		c.sizes[i], c.modifieds[i], c.pieceSizes[i] = f.Size, sqlstore.Nanos(f.Modified), f.PieceSize
		c.shas[i], c.roots[i] = sha, root
		c.rows[i] = fileRow{size: f.Size, sha256: [hashLen]byte(sha), pieceSize: f.PieceSize, pieceRoot: [hashLen]byte(root), modified: sqlstore.Nanos(f.Modified)}
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
			created, seen, expires = append(created, sqlstore.Nanos(ss.Created)), append(seen, sqlstore.Nanos(ss.LastSeen)), append(expires, sqlstore.Nanos(ss.ExpiresAt))
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
	fileSelect = `SELECT s.peer_name, s.address, f.name, f.size, f.sha256, f.piece_size, f.piece_root, f.modified, coalesce(pp.pin, '')
		FROM sessions s JOIN files f ON f.session_seq = s.seq` + sqlstore.PinJoin + `
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
	fromPeer, fromName, after, err := sqlstore.FilesAfter(tokens, peer, p.Token)
	switch {
	case err != nil:
		return nil, "", err
	case checkText(peer) != nil:
		return nil, "", nil // no peer has that name
	case after && (checkText(fromPeer) != nil || checkText(fromName) != nil):
		return nil, "", fmt.Errorf("page token %q: %w", p.Token, store.ErrInvalidArgument)
	}
	args := []any{sqlstore.Nanos(now), p.Size + 1}
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
		err := r.Scan(&pf.Peer, &pf.Address, &pf.File.Name, &pf.File.Size, &sha, &pf.File.PieceSize, &root, &modified, &pf.Pin)
		pf.File.SHA256, pf.File.PieceRoot, pf.File.Modified = encodeHash(sha), encodeHash(root), sqlstore.FromNanos(modified)
		return pf, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	out, next := sqlstore.FilesPage(tokens, peer, out, p.Size)
	return out, next, nil
}
