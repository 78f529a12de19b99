package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Accounts implements the account and signing-key methods of store.Store
// on the tables accounts (name, password_hash, created) and signing_keys
// (seq, id, private, created) that both schemas define; a store embeds it.
// Deleting an account removes its sessions and their files by the schemas'
// cascades, and records those sessions as revoked (see Revocations).
type Accounts struct {
	// Read runs the reads.
	Read Querier
	// InTx runs fn in a write transaction and commits it unless fn
	// fails; it may run fn again (a store retrying a serialization
	// failure).
	InTx func(ctx context.Context, fn func(q Querier) error) error
	// Valid reports whether the database can hold a string as text; nil
	// accepts every string. A name or key id it refuses is invalid to
	// create and is found nowhere.
	Valid func(s string) bool
}

// valid reports whether s may reach the database.
func (a *Accounts) valid(s string) bool { return a.Valid == nil || a.Valid(s) }

// Account and signing-key statements.
const (
	sqlCreateAccount = `INSERT INTO accounts (name, password_hash, created) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	sqlGetAccount    = `SELECT name, password_hash, created FROM accounts WHERE name = $1`
	sqlListAccounts  = `SELECT name, password_hash, created FROM accounts ORDER BY name`
	sqlDeleteAccount = `DELETE FROM accounts WHERE name = $1`
	sqlSigningKeys   = `SELECT id, private, created FROM signing_keys ORDER BY created DESC, seq DESC`
	sqlAddSigningKey = `INSERT INTO signing_keys (id, private, created) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`
)

// notText says why a name Valid refuses is invalid.
const notText = "not text the database can hold"

// write runs one statement in a write transaction and returns how many
// rows it changed.
func (a *Accounts) write(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := a.InTx(ctx, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

// insert adds the row of a thing (an "account", a "signing key") named
// name with an INSERT ... ON CONFLICT DO NOTHING statement: a name taken is
// store.ErrAlreadyExists, one the database cannot hold
// store.ErrInvalidArgument.
func (a *Accounts) insert(ctx context.Context, verb, thing, name, query string, args ...any) error {
	if !a.valid(name) {
		return fmt.Errorf("%s %q: %s: %w", thing, name, notText, store.ErrInvalidArgument)
	}
	n, err := a.write(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, thing, name, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", thing, name, store.ErrAlreadyExists)
	}
	return nil
}

// CreateAccount implements store.Store.
func (a *Accounts) CreateAccount(ctx context.Context, acct store.Account) error {
	return a.insert(ctx, "create", "account", acct.Name,
		sqlCreateAccount, acct.Name, NonNil(acct.PasswordHash), Nanos(acct.Created))
}

// scanAccount reads the columns of sqlGetAccount.
func scanAccount(r Row) (store.Account, error) {
	var acct store.Account
	var created int64
	err := r.Scan(&acct.Name, &acct.PasswordHash, &created)
	acct.Created = FromNanos(created)
	return acct, err
}

// GetAccount implements store.Store.
func (a *Accounts) GetAccount(ctx context.Context, name string) (store.Account, error) {
	if !a.valid(name) {
		return store.Account{}, fmt.Errorf("account %q: %w", name, store.ErrNotFound)
	}
	acct, err := scanAccount(a.Read.QueryRow(ctx, sqlGetAccount, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("account %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("get account %s: %w", name, err)
	}
	return acct, nil
}

// ListAccounts implements store.Store.
func (a *Accounts) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := a.Read.Query(ctx, sqlListAccounts)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out, err := collect(rows, scanAccount)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// DeleteAccount implements store.Store.
func (a *Accounts) DeleteAccount(ctx context.Context, name string, now time.Time) error {
	if !a.valid(name) {
		return fmt.Errorf("account %q: %w", name, store.ErrNotFound)
	}
	var n int64
	err := a.InTx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, sqlRevokeAccount, name, Nanos(now)); err != nil {
			return err
		}
		var err error
		n, err = q.Exec(ctx, sqlDeleteAccount, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete account %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("account %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// SigningKeys implements store.Store.
func (a *Accounts) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := a.Read.Query(ctx, sqlSigningKeys)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	out, err := collect(rows, func(r Row) (store.SigningKey, error) {
		var k store.SigningKey
		var priv []byte
		var created int64
		err := r.Scan(&k.ID, &priv, &created)
		k.Private, k.Created = priv, FromNanos(created)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return out, nil
}

// AddSigningKey implements store.Store.
func (a *Accounts) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return a.insert(ctx, "add", "signing key", k.ID,
		sqlAddSigningKey, k.ID, NonNil(k.Private), Nanos(k.Created))
}
