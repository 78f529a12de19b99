// Package sqlite owns the SQLite implementation of store.Store: one database
// file (modernc.org/sqlite, pure Go) in WAL mode holding accounts, signing
// keys, sessions and the file index, with a schema migrated at open from the
// versioned SQL files embedded from migrations/ (PRAGMA user_version counts
// the applied ones).
//
// Writes go through a single connection, so the store's own writers queue in
// Go instead of failing with SQLITE_BUSY; reads use a separate pool of
// read-only connections that WAL lets run beside the writer. Heartbeats are
// group-committed, many per transaction, because a commit costs far more
// than the update. Name search uses an FTS5 trigram index over the lowered
// file name, queried with a few of the query's rarest trigrams and confirmed
// with instr(); content lookups use a btree index on sha256. Every query
// decides liveness by comparing expires_at (unix nanoseconds) with the
// caller's now.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/peerhub/peerhub/internal/private"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/migration"
	"github.com/peerhub/peerhub/server/store/sqlstore"
	"github.com/peerhub/peerhub/server/store/trigram"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeoutMS is how long, in milliseconds, a connection waits for a lock
// held by another process (or a checkpoint) before failing with SQLITE_BUSY.
const busyTimeoutMS = 10_000

// cacheKiB is the page cache of each connection, in KiB (SQLite takes a
// negative cache_size as KiB). Reads mostly hit the memory map instead, so
// this bounds the memory of the write connection and the read pool.
const cacheKiB = 16 << 10

// mmapBytes is how much of the database file, in bytes, connections map
// into memory so that reads of hot pages skip a copy through read(2).
const mmapBytes = 1 << 30

// checkpointPages is the WAL size, in pages (4 KiB), that triggers a
// checkpoint at commit. A checkpoint fsyncs; at SQLite's default (1000) a
// stream of small heartbeat commits pays one every few hundred commits,
// which costs more than the commits themselves.
const checkpointPages = 8000

// Store is a store.Store on one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	// Accounts are the account and signing-key methods, shared with
	// the postgres store.
	sqlstore.Accounts
	// Revocations are the revocation methods, shared likewise.
	sqlstore.Revocations

	w *sql.DB // one connection: every write, serialized
	r *sql.DB // read-only connections

	// Hot statements, prepared once; database/sql re-prepares them per
	// connection on first use.
	getSession                                        *sql.Stmt
	searchFTS, searchScan, searchSHA                  *sql.Stmt
	listPeers, listFilesAll, listFilesPeer, statsStmt *sql.Stmt

	// Trigram statistics for search planning (see trigram.go).
	sample              atomic.Pointer[trigram.Sample]
	insertedSinceSample atomic.Int64
	sampling            atomic.Bool

	// touches queues heartbeats for the batcher (see TouchSession);
	// touchStmts are its statements by batch size.
	touches    *sqlstore.Heartbeats[*sql.Tx]
	touchStmts map[int]*sql.Stmt

	// Background work (heartbeat batcher, resampling) runs under bgCtx
	// and is waited for by Close.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	// tempDir is the folder OpenTemp made for the database, removed by
	// Close; empty for a database of Open.
	tempDir string
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and migrates its
// schema to the newest version. path is a file name; it may not contain '?'
// (the driver would take the rest for options).
//
// The database holds the token signing keys and password hashes: a new one
// is created 0600 (and SQLite gives its -wal and -shm files the database's
// mode), whatever the umask; an existing one, or its -wal or -shm, that
// other users may read is refused with the chmod that fixes it (the error
// wraps private.ErrExposed).
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite database path %q: %w", path, store.ErrInvalidArgument)
	}
	if err := private.Check("the directory's database (token signing keys, password hashes)", path, path+"-wal", path+"-shm"); err != nil {
		return nil, err
	}
	if err := private.CreateFile(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=cache_size(-%d)&_pragma=mmap_size(%d)&_pragma=temp_store(memory)",
		busyTimeoutMS, cacheKiB, mmapBytes)
	// synchronous=NORMAL: in WAL mode a commit survives a process crash
	// and only a power loss may drop the last commits, which presence
	// data tolerates; FULL would fsync every heartbeat.
	w, err := sql.Open("sqlite", path+"?"+common+fmt.Sprintf(
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=wal_autocheckpoint(%d)&_txlock=immediate",
		checkpointPages))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s := &Store{w: w, r: r, touchStmts: make(map[int]*sql.Stmt)}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	inTx := func(ctx context.Context, fn func(q sqlstore.Querier) error) error {
		return s.inWrite(ctx, func(tx *sql.Tx) error { return fn(sqlstore.Std(tx)) })
	}
	s.Accounts = sqlstore.Accounts{Read: sqlstore.Std(r), InTx: inTx}
	s.Revocations = sqlstore.Revocations{Read: sqlstore.Std(r), InTx: inTx}
	s.touches = sqlstore.NewHeartbeats(s.bgCtx, errClosed, s.inWrite, s.touchRound)
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare sqlite %s: %w", path, err)
	}
	s.bg.Go(s.touches.Run)
	if err := s.resample(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sample sqlite %s: %w", path, err)
	}
	return s, nil
}

// TempFile is the database's name inside the folder of OpenTemp.
const TempFile = "directory.db"

// OpenTemp opens a new database in a new temporary folder (0700, under
// os.TempDir), for a throwaway directory: the same store as Open's, with
// the same indexes, whose Close deletes the folder and so everything in it.
// A process killed before Close leaves the folder behind.
func OpenTemp(ctx context.Context) (*Store, error) {
	dir, err := os.MkdirTemp("", "peerhub-directory-")
	if err != nil {
		return nil, fmt.Errorf("temporary sqlite folder: %w", err)
	}
	s, err := Open(ctx, filepath.Join(dir, TempFile))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.tempDir = dir
	return s, nil
}

// migrate applies the migrations newer than the database's user_version,
// each in its own transaction together with the version bump, so a crash
// leaves the database at a known version.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	pending, err := migration.Pending(ms, current)
	if err != nil {
		return err
	}
	for _, m := range pending {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// Hot statements. Liveness is "expires_at > now" everywhere, and a peer
// session is one with an address.
const (
	sqlGetSession = `SELECT ` + sqlstore.SessionCols + ` FROM sessions WHERE id = ?1 AND expires_at > ?2`

	// firstOfContent keeps a matching row only if no live matching row of
	// the same content (the whole descriptor: sha256, size, piece size
	// and piece root) has a smaller id: each content is emitted once, at
	// its first match in id order, without sorting the matches. The
	// sha256 index (with its implicit id suffix) answers it in a few rows.
	firstOfContent = `NOT EXISTS (
		SELECT 1 FROM files g CROSS JOIN sessions t ON t.seq = g.session_seq
		WHERE g.sha256 = f.sha256 AND g.id < f.id
			AND g.size = f.size AND g.piece_size = f.piece_size AND g.piece_root = f.piece_root
			AND t.expires_at > ?3 AND t.address <> ''
			AND instr(g.name_lower, ?4) > 0)`

	// sqlSearchFTS walks the trigram index in rowid order from the page
	// token: a broad query stops after a page of contents instead of
	// collecting and sorting every match. CROSS JOIN pins the join order.
	// ?1 is an AND of some of the query's trigrams (see trigram.go), so
	// instr() confirms each candidate. ?2 after id, ?3 now, ?4 lowered
	// query, ?5 limit.
	sqlSearchFTS = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files_fts x CROSS JOIN files f ON f.id = x.rowid CROSS JOIN sessions s ON s.seq = f.session_seq
		WHERE files_fts MATCH ?1 AND x.rowid > ?2 AND instr(f.name_lower, ?4) > 0
			AND s.expires_at > ?3 AND s.address <> ''
			AND ` + firstOfContent + `
		ORDER BY x.rowid LIMIT ?5`

	// sqlSearchScan serves queries the trigram index cannot (empty, or
	// shorter than 3 characters): the same walk over files by id. An
	// empty query matches every row (instr(x, '') = 1) and stops after a
	// page; a short one scans until it fills a page.
	sqlSearchScan = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f CROSS JOIN sessions s ON s.seq = f.session_seq
		WHERE f.id > ?2 AND instr(f.name_lower, ?4) > 0
			AND s.expires_at > ?3 AND s.address <> ''
			AND ` + firstOfContent + `
		ORDER BY f.id LIMIT ?5`

	// sqlSearchSHA finds the one content of a hash by the sha256 index.
	sqlSearchSHA = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f CROSS JOIN sessions s ON s.seq = f.session_seq
		WHERE f.sha256 = ?1 AND f.id > ?2 AND instr(f.name_lower, ?4) > 0
			AND s.expires_at > ?3 AND s.address <> ''
			AND ` + firstOfContent + `
		ORDER BY f.id LIMIT ?5`

	// searchWrap runs a page statement (%s) and reads every live source
	// of the page's first PageSize (?5 - 1) contents by the sha256 index
	// (those of exactly the content's descriptor), with its peer's pin,
	// in one statement and so one snapshot: one call into SQLite per search instead of a
	// transaction of two. The extra content (rn = ?5) comes back alone,
	// with no source, only to tell that a next page exists. A row with a
	// name but no peer is a file of a session that has ended but is not
	// reaped yet: the LEFT JOIN keeps liveness out of the WHERE clause so
	// that the extra content still shows.
	searchWrap = `WITH page AS MATERIALIZED (%s),
		ranked AS (SELECT id, sha256, size, piece_size, piece_root, row_number() OVER (ORDER BY id) AS rn FROM page)
		SELECT r.rn, r.id, r.sha256, r.size, r.piece_size, r.piece_root,
			f.name, s.peer_name, s.address, s.last_seen, s.username, pp.pin
		FROM ranked r
			LEFT JOIN files f INDEXED BY files_sha256 ON r.rn < ?5 AND f.sha256 = r.sha256
				AND f.size = r.size AND f.piece_size = r.piece_size AND f.piece_root = r.piece_root
			LEFT JOIN sessions s ON s.seq = f.session_seq AND s.expires_at > ?3 AND s.address <> ''
			LEFT JOIN peer_pins pp ON pp.name = s.peer_name
		ORDER BY r.rn, s.peer_name, f.name`

	sqlListPeers = `SELECT ` + sqlstore.SessionCols + `, file_count, ` + sqlstore.PinCols + `
		FROM sessions s` + sqlstore.PinJoin + `
		WHERE address <> '' AND expires_at > ?1 AND peer_name >= ?2
		ORDER BY peer_name LIMIT ?3`

	fileCols = `s.peer_name, s.address, f.name, f.size, f.sha256, f.piece_size, f.piece_root, f.modified, coalesce(pp.pin, '')`

	// sqlListFilesAll: ?2/?3 is the first (peer, name) to list; the
	// separate "peer_name >= ?2" lets the peer-name index skip the
	// sessions before the page.
	sqlListFilesAll = `SELECT ` + fileCols + `
		FROM sessions s CROSS JOIN files f ON f.session_seq = s.seq` + sqlstore.PinJoin + `
		WHERE s.address <> '' AND s.expires_at > ?1 AND s.peer_name >= ?2
			AND (s.peer_name > ?2 OR f.name >= ?3)
		ORDER BY s.peer_name, f.name LIMIT ?4`

	sqlListFilesPeer = `SELECT ` + fileCols + `
		FROM sessions s CROSS JOIN files f ON f.session_seq = s.seq` + sqlstore.PinJoin + `
		WHERE s.address <> '' AND s.expires_at > ?1 AND s.peer_name = ?2 AND f.name >= ?3
		ORDER BY f.name LIMIT ?4`

	sqlStats = `SELECT count(*), coalesce(sum(file_count), 0) FROM sessions
		WHERE address <> '' AND expires_at > ?1`
)

// prepare prepares the hot statements on their pool.
func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{s.r, &s.getSession, sqlGetSession},
		{s.r, &s.searchFTS, fmt.Sprintf(searchWrap, sqlSearchFTS)},
		{s.r, &s.searchScan, fmt.Sprintf(searchWrap, sqlSearchScan)},
		{s.r, &s.searchSHA, fmt.Sprintf(searchWrap, sqlSearchSHA)},
		{s.r, &s.listPeers, sqlListPeers},
		{s.r, &s.listFilesAll, sqlListFilesAll},
		{s.r, &s.listFilesPeer, sqlListFilesPeer},
		{s.r, &s.statsStmt, sqlStats},
	} {
		st, err := p.db.PrepareContext(ctx, p.text)
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(strings.Fields(p.text), " "), err)
		}
		*p.dst = st
	}
	for size := 1; size <= sqlstore.MaxHeartbeatBatch; size *= 2 {
		st, err := s.w.PrepareContext(ctx, sqlTouch(size))
		if err != nil {
			return fmt.Errorf("batched heartbeat: %w", err)
		}
		s.touchStmts[size] = st
	}
	return nil
}

// Close implements store.Store: it closes the statements and both pools,
// and deletes the folder of a database of OpenTemp.
func (s *Store) Close() error {
	s.bgCancel()
	s.bg.Wait()
	var errs []error
	for _, st := range []*sql.Stmt{
		s.getSession,
		s.searchFTS, s.searchScan, s.searchSHA,
		s.listPeers, s.listFilesAll, s.listFilesPeer, s.statsStmt,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, st := range s.touchStmts {
		errs = append(errs, st.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if s.tempDir != "" {
		errs = append(errs, os.RemoveAll(s.tempDir))
	}
	return errors.Join(errs...)
}

// inWrite runs fn in a write transaction (BEGIN IMMEDIATE on the single
// write connection) and commits it unless fn fails.
func (s *Store) inWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
