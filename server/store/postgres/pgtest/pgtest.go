// Package pgtest owns the test databases of tests that need a real
// PostgreSQL: it reads the server's URL from PEERHUB_TEST_POSTGRES, skips
// (or, under CI=true, fails) the test when there is none, and gives each
// test a database of its own that is dropped when the test ends, so that
// tests run in parallel on one server.
//
// It is imported only by _test.go files; it lives in a non-test file so that
// the store's tests and the end-to-end tests share it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peerhub/peerhub/internal/testutil"
)

// EnvURL names the environment variable holding the URL of a database on a
// server where the test user may create and drop databases, e.g.
// postgres://peerhub@127.0.0.1:5432/peerhub_test?sslmode=disable
// (.ci/postgres.sh starts such a server and sets it).
const EnvURL = "PEERHUB_TEST_POSTGRES"

// EnvKeep names the environment variable that, set to 1, keeps every test
// database (its name is logged) for a look after the test.
const EnvKeep = "PEERHUB_TEST_POSTGRES_KEEP"

// dropTimeout bounds dropping a test's database at cleanup, when the
// test's own context is already done.
const dropTimeout = 30 * time.Second

// URL returns the server URL of EnvURL. Without it the test is skipped,
// except under CI=true, where it fails: CI must run the PostgreSQL tests.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u != "" {
		return u
	}
	testutil.Missing(t, "%s is not set: no PostgreSQL to test against (make test-postgres starts a throwaway one; under CI=true .ci/run sources .ci/postgres.sh, which sets it)", EnvURL)
	return ""
}

// NewDatabase creates an empty UTF8 database for the test on the server of
// EnvURL (skipping the test as URL does) and returns its URL; the database
// is dropped, with any connection still open to it, when the test ends
// (unless EnvKeep says otherwise).
func NewDatabase(t testing.TB) string {
	t.Helper()
	return NewDatabaseWith(t, `ENCODING 'UTF8'`)
}

// NewDatabaseWith is NewDatabase with other options of CREATE DATABASE
// (after TEMPLATE template0), e.g. another encoding.
func NewDatabaseWith(t testing.TB, options string) string {
	t.Helper()
	admin := URL(t)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s: want a postgres:// URL", EnvURL)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "peerhub_test_" + hex.EncodeToString(b)
	exec(t, t.Context(), admin, `CREATE DATABASE `+name+` TEMPLATE template0 `+options)
	if os.Getenv(EnvKeep) == "1" {
		t.Logf("%s=1: keeping database %s", EnvKeep, name)
	}
	t.Cleanup(func() {
		if os.Getenv(EnvKeep) == "1" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
		defer cancel()
		exec(t, ctx, admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	u.Path = "/" + name
	return u.String()
}

// Exec runs one statement on the database at dbURL, on a connection of its
// own, failing the test on an error.
func Exec(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	exec(t, t.Context(), dbURL, sql, args...)
}

func exec(t testing.TB, ctx context.Context, dbURL, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// QueryInt runs a query returning one integer on the database at dbURL,
// failing the test on an error.
func QueryInt(t testing.TB, dbURL, sql string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n int64
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}
