package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Peer names belong to accounts: the first account to log a peer in under a
// name owns it, online or not, so that nobody else can pose as its peer
// while it is away (`put --to NAME` reaches only the owner's peer). A name
// is freed by its owner (ReleasePeerName), by an administrator
// (ForceReleasePeerName), or by the removal of its account.

// ReleasePeerName gives up a peer name that the caller's account owns, so
// that the next account to log a peer in with it claims it. The name's peer
// must be offline: a running peer would claim it again at its next login.
// Errors: ErrInvalidArgument for a malformed name; ErrNotFound when the
// caller's account does not own the name; ErrInUse while its peer is
// online.
func (d *Directory) ReleasePeerName(ctx context.Context, caller token.Claims, name string) error {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("peer name: %w", err)
	}
	err := d.store.ReleasePeerName(ctx, name, caller.Subject, false, d.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("peer name %s is not one of account %s's: %w", name, caller.Subject, ErrNotFound)
	case errors.Is(err, store.ErrInUse):
		return fmt.Errorf("peer name %s: its peer is online; stop it first, or it claims the name again at its next login: %w", name, ErrInUse)
	case err != nil:
		return fmt.Errorf("release peer name %s: %w", name, err)
	}
	d.log.Info("peer name released", "peer", name, "user", caller.Subject)
	return nil
}

// ForceReleasePeerName releases a peer name whoever owns it, for an
// administrator: an online peer of that name is logged out (its files leave
// the index). It returns the account that owned the name. A peer still
// running logs in again, and so claims the name again, unless its account
// is removed or it is stopped first.
// Errors: ErrInvalidArgument for a malformed name; ErrNotFound when no
// account owns the name.
func (d *Directory) ForceReleasePeerName(ctx context.Context, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("peer name: %w", err)
	}
	owner, err := d.store.PeerNameOwner(ctx, name)
	if err == nil {
		err = d.store.ReleasePeerName(ctx, name, owner, true, d.cfg.Now())
		d.sessionsEnded()
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("peer name %s: no account owns it: %w", name, ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("release peer name %s: %w", name, err)
	}
	d.log.Info("peer name released by an administrator", "peer", name, "owner", owner)
	return owner, nil
}
