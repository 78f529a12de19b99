package sqlstore

import (
	"context"
	"database/sql"
)

// Querier runs statements on a database, a connection pool or a
// transaction. Each store adapts its driver to it (Std for database/sql); a
// row that is not there is an error wrapping sql.ErrNoRows, which pgx's
// ErrNoRows also wraps.
type Querier interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query for at most one row; its error, if any,
	// comes from Scan.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// Query runs a query for any number of rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows are the result rows of a query, read with Next and Scan; Close
// releases them (Next returning false also does).
type Rows interface {
	Row
	Next() bool
	Err() error
	Close() error
}

// stdDB is what database/sql's DB, Conn and Tx have in common.
type stdDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Std adapts a database/sql pool (*sql.DB), connection or transaction to
// Querier.
func Std(db stdDB) Querier { return stdQuerier{db} }

type stdQuerier struct{ db stdDB }

func (q stdQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q stdQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return q.db.QueryRowContext(ctx, query, args...)
}

func (q stdQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// collect reads every row of a query with scan, and closes the rows.
func collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
