package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Peer names belong to accounts (the peer_names table of both schemas: name,
// username, created): the first peer session of a name claims it for its
// account, and only a release (ReleasePeerName) or the account's deletion
// (by the schemas' cascade) frees it.

// Peer-name statements.
const (
	sqlClaimPeerName = `INSERT INTO peer_names (name, username, created) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	sqlPeerNameOwner = `SELECT username FROM peer_names WHERE name = $1`
	sqlReleaseName   = `DELETE FROM peer_names WHERE name = $1`
	sqlNameHolder    = `SELECT seq, id, expires_at FROM sessions WHERE peer_name = $1 AND address <> ''`
)

// claimPeerName makes ss.PeerName the account's if no account owns it, in
// the login transaction q. The caller has made logins of the name take
// turns where writers run concurrently (SessionLocks.PeerName).
// Errors: store.ErrAlreadyExists if another account owns the name.
func claimPeerName(ctx context.Context, q Querier, ss store.Session) error {
	if _, err := q.Exec(ctx, sqlClaimPeerName, ss.PeerName, ss.Username, Nanos(ss.Created)); err != nil {
		return err
	}
	var owner string
	if err := q.QueryRow(ctx, sqlPeerNameOwner, ss.PeerName).Scan(&owner); err != nil {
		return err
	}
	if owner != ss.Username {
		return fmt.Errorf("peer name %s belongs to account %s: %w", ss.PeerName, owner, store.ErrAlreadyExists)
	}
	return nil
}

// PeerNameOwner is store.Store.PeerNameOwner on q.
func PeerNameOwner(ctx context.Context, q Querier, name string) (string, error) {
	var owner string
	err := q.QueryRow(ctx, sqlPeerNameOwner, name).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("peer name %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("peer name %s: %w", name, err)
	}
	return owner, nil
}

// ReleasePeerName is store.Store.ReleasePeerName in a write transaction q,
// with the login's peer-name lock (locks.PeerName) and holder lock
// (locks.Holder). An expired session still holding the name is dropped with
// its files, as a login taking the name over would; a session dropped is
// recorded as revoked at now. It returns store
// sentinel errors as documented, and database errors as they are.
func ReleasePeerName(ctx context.Context, q Querier, name, owner string, force bool, now time.Time, locks SessionLocks) error {
	if locks.PeerName != nil {
		if err := locks.PeerName(ctx, q, name); err != nil {
			return err
		}
	}
	var user string
	err := q.QueryRow(ctx, sqlPeerNameOwner+locks.Holder, name).Scan(&user)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("peer name %s: no account owns it: %w", name, store.ErrNotFound)
	case err != nil:
		return err
	case owner != "" && user != owner:
		return fmt.Errorf("peer name %s: account %s does not own it: %w", name, owner, store.ErrNotFound)
	}
	var seq, expires int64
	var id string
	err = q.QueryRow(ctx, sqlNameHolder+locks.Holder, name).Scan(&seq, &id, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case expires > Nanos(now) && !force:
		return fmt.Errorf("peer name %s: its peer is online: %w", name, store.ErrInUse)
	default:
		if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE seq = $1`, seq); err != nil {
			return fmt.Errorf("end the session of peer %s: %w", name, err)
		}
		// Its transfer tokens must stop working at peers too.
		if _, err := q.Exec(ctx, sqlRevokeSession, id, Nanos(now)); err != nil {
			return fmt.Errorf("revoke the session of peer %s: %w", name, err)
		}
	}
	_, err = q.Exec(ctx, sqlReleaseName, name)
	return err
}
