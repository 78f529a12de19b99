package sqlstore

import (
	"context"
	"fmt"

	"github.com/peerhub/peerhub/server/store"
)

// Statements of store.Store.PeerSessions and SessionFiles that are the same
// in both schemas.
const (
	// SQLPeerSessions selects every peer session, live or expired but not
	// reaped: SessionCols, then files version and pin (PinJoin).
	SQLPeerSessions = `SELECT ` + SessionCols + `, files_version, coalesce(pp.pin, '')
		FROM sessions s` + PinJoin + `
		WHERE address <> ''`

	// SQLSessionFiles selects the files version of session id $1 and
	// its files, in one statement and so one snapshot: one row per file
	// (id, name, size, sha256, piece size, piece root, modified), or, for
	// a session with no files, one row with id 0 (ids start at 1); no
	// row if the session is gone.
	SQLSessionFiles = `SELECT s.files_version, coalesce(f.id, 0), coalesce(f.name, ''), coalesce(f.size, 0),
			coalesce(f.sha256, ''), coalesce(f.piece_size, 0), coalesce(f.piece_root, ''), coalesce(f.modified, 0)
		FROM sessions s LEFT JOIN files f ON f.session_seq = s.seq
		WHERE s.id = $1`
)

// PeerSessions is store.Store.PeerSessions read with q.
func PeerSessions(ctx context.Context, q Querier) ([]store.IndexedPeer, error) {
	rows, err := q.Query(ctx, SQLPeerSessions)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r Row) (store.IndexedPeer, error) {
		var p store.IndexedPeer
		ss, err := ScanSession(r, &p.FilesVersion, &p.Pin)
		p.Session = ss
		return p, err
	})
}

// SessionFiles is store.Store.SessionFiles read with q. H is how the store
// scans a hash column, and hex makes it the API's lowercase hex.
func SessionFiles[H any](ctx context.Context, q Querier, id string, hex func(H) string) ([]store.IndexedFile, int64, error) {
	rows, err := q.Query(ctx, SQLSessionFiles, id)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		out      []store.IndexedFile
		version  int64
		found    bool
		sha      H
		root     H
		modified int64
	)
	for rows.Next() {
		var f store.IndexedFile
		if err := rows.Scan(&version, &f.ID, &f.File.Name, &f.File.Size, &sha, &f.File.PieceSize, &root, &modified); err != nil {
			return nil, 0, err
		}
		found = true
		if f.ID == 0 {
			continue // the session has no files
		}
		f.File.SHA256, f.File.PieceRoot, f.File.Modified = hex(sha), hex(root), FromNanos(modified)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	return out, version, nil
}
