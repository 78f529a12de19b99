// Package postgres owns the PostgreSQL implementation of store.Store: the
// state that several directory replicas share when they run on one database
// (accounts, signing keys, sessions and the file index), its schema and the
// versioned migrations embedded from migrations/, applied at Open under an
// advisory lock so that replicas starting together do not race.
//
// Every query decides liveness by comparing expires_at (unix nanoseconds)
// with the caller's now, never with the database's clock. Name search uses a
// pg_trgm GIN index on the lowered name, content lookups a btree on sha256;
// search pages are keyset-paged on the file id. Writes that must be atomic
// run in one transaction, retried on serialization failures and deadlocks;
// unique and foreign-key violations become the store's sentinel errors.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/migration"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Advisory lock key of the migration runner (the two-int4 form, a key space
// apart from single-bigint keys): "peer", "hub\x01".
const (
	migrationLockClass = 0x70656572
	migrationLockID    = 0x68756201
)

// defaultMaxConns is the pool size, in connections, when the URL does not
// set pool_max_conns: enough for the heartbeat batchers and a few searches
// and publishes at once per core, far below PostgreSQL's default
// max_connections of 100 even with a few replicas.
func defaultMaxConns() int32 { return int32(max(8, 4*runtime.GOMAXPROCS(0))) }

// Store is a store.Store on a PostgreSQL database. It is safe for concurrent
// use, and several Stores (in several processes) may share one database.
type Store struct {
	// Accounts are the account and signing-key methods, shared with
	// the sqlite store.
	sqlstore.Accounts
	// Revocations are the revocation methods, shared likewise.
	sqlstore.Revocations

	pool *pgxpool.Pool

	// touches queues heartbeats for the batchers (see TouchSession).
	touches *sqlstore.Heartbeats[pgx.Tx]

	// sampler keeps the trigram counts that steer name search's index
	// probes (see trigram.go).
	sampler trigramSampler

	// Background work (the heartbeat batchers) runs under bgCtx and is
	// waited for by Close.
	bg        sync.WaitGroup
	bgCtx     context.Context
	bgCancel  context.CancelFunc
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user:password@host:port/
// database?options, as libpq and pgx take it, pool_max_conns included),
// checks that it is UTF8, and migrates its schema to the newest version. The
// database must exist; the user needs to create tables and the pg_trgm
// extension in it (a trusted extension: the database owner may).
//
// Errors never quote the URL: it may carry the password.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL, redacted only on a best-effort
		// basis: say less rather than leak a password.
		return nil, fmt.Errorf("postgres URL: cannot parse it (want postgres://user:password@host:port/database?sslmode=...): %w", store.ErrInvalidArgument)
	}
	password := cfg.ConnConfig.Password
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns()
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "peerhub-directory"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("connect to postgres: %w", err), password)
	}
	if err := checkEncoding(ctx, pool); err != nil {
		pool.Close()
		return nil, redact(err, password)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, redact(fmt.Errorf("migrate postgres schema: %w", err), password)
	}
	s := &Store{pool: pool}
	inTx := func(ctx context.Context, fn func(q sqlstore.Querier) error) error {
		return s.inTx(ctx, func(tx pgx.Tx) error { return fn(querier{tx}) })
	}
	s.Accounts = sqlstore.Accounts{Read: querier{pool}, Valid: utf8ValidNoNUL, InTx: inTx}
	s.Revocations = sqlstore.Revocations{Read: querier{pool}, InTx: inTx}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.touches = sqlstore.NewHeartbeats(s.bgCtx, errClosed, s.inTx, s.touchRound)
	for range touchWorkers {
		s.bg.Go(s.touches.Run)
	}
	return s, nil
}

// checkEncoding refuses a database that is not UTF8: names are UTF-8 and
// must compare, lower and match the same way in every replica.
func checkEncoding(ctx context.Context, pool *pgxpool.Pool) error {
	var enc string
	if err := pool.QueryRow(ctx, `SHOW server_encoding`).Scan(&enc); err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	if enc != "UTF8" {
		return fmt.Errorf("postgres database encoding %s: want UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0): %w", enc, store.ErrInvalidArgument)
	}
	return nil
}

// redactedError hides a secret in a wrapped error's message while keeping
// the chain for errors.Is and errors.As.
type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx")
}

func (e *redactedError) Unwrap() error { return e.err }

// redact makes sure err's message does not contain the password, whatever a
// driver layer put in it.
func redact(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{err: err, secret: password}
}

// migrate applies the migrations the database has not seen, each in its own
// transaction together with its row in peerhub_schema_migrations, so that a crash
// leaves the database at a known version. It holds a session advisory lock
// throughout: a replica that starts while another migrates waits, then finds
// nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, migrationLockClass, migrationLockID); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		// A session lock outlives a failed transaction; release it even
		// if ctx is done, or drop the connection so the server does.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, $2)`, migrationLockClass, migrationLockID); err != nil {
			conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS peerhub_schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM peerhub_schema_migrations`).Scan(&current); err != nil {
		return err
	}
	pending, err := migration.Pending(ms, current)
	if err != nil {
		return err
	}
	for _, m := range pending {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends the file with the simple
			// protocol, which runs several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO peerhub_schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM peerhub_schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// Close implements store.Store: it stops the heartbeat batchers and closes
// the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.bgCancel()
		s.bg.Wait()
		s.pool.Close()
	})
	return nil
}

// PostgreSQL error codes the store maps or retries.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// maxTxAttempts is how many times a write transaction runs before a
// serialization failure or deadlock is returned.
const maxTxAttempts = 5

// pgCode returns err's SQLSTATE, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgConstraint returns the constraint err violated, or "".
func pgConstraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// retryable reports whether a transaction that failed with err may succeed
// if run again from the start.
func retryable(err error) bool {
	switch pgCode(err) {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// inTx runs fn in a READ COMMITTED transaction and commits it unless fn
// fails. A serialization failure or deadlock (two replicas locking the same
// rows in another order) runs fn again, up to maxTxAttempts times.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := range maxTxAttempts {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		// A short, growing pause lets the other transaction finish.
		select {
		case <-time.After(time.Duration(attempt+1) * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
	return err
}

// checkText returns ErrInvalidArgument for a string PostgreSQL's text cannot
// hold: invalid UTF-8, or a NUL byte.
func checkText(s string) error {
	if !utf8ValidNoNUL(s) {
		return fmt.Errorf("not UTF-8 text without NUL bytes: %w", store.ErrInvalidArgument)
	}
	return nil
}
