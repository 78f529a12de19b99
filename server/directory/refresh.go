package directory

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// DefaultRefreshTTL is how long a refresh token is accepted: a month, so
// `peerhub login` is typed about once a month per machine.
const DefaultRefreshTTL = 30 * 24 * time.Hour

// A refresh token is a signed token of scope token.ScopeRefresh whose "sid"
// names a client session row that lives as long as the token: the row is
// what makes it revocable (Logout deletes it, which also records the
// revocation), and what Refresh checks, so a refresh token stops working at
// once when it is revoked or its account removed. Exchanging it checks a
// signature and reads one row: no bcrypt. The row counts among the
// account's live sessions (Config.MaxAccountSessions).

// activity counts what the directory did since it started, for metrics.
type activity struct {
	peerLogins     atomic.Int64 // successful password logins of peers
	clientLogins   atomic.Int64 // successful password logins of clients
	refreshes      atomic.Int64 // sessions opened with a refresh token
	passwordChecks atomic.Int64 // bcrypt comparisons
}

// Counters are running totals since the directory started.
type Counters struct {
	// PeerLogins and ClientLogins count sessions opened with a password
	// (Login), of peers and of clients.
	PeerLogins, ClientLogins int64
	// Refreshes counts sessions opened with a refresh token (Refresh).
	Refreshes int64
	// PasswordChecks counts bcrypt comparisons: one per login attempt
	// that reached the password check, right or wrong.
	PasswordChecks int64
}

// Counters returns the running totals.
func (d *Directory) Counters() Counters {
	return Counters{
		PeerLogins:     d.counters.peerLogins.Load(),
		ClientLogins:   d.counters.clientLogins.Load(),
		Refreshes:      d.counters.refreshes.Load(),
		PasswordChecks: d.counters.passwordChecks.Load(),
	}
}

// issueRefresh stores a refresh row for account username and signs its
// token, valid for Config.RefreshTTL.
func (d *Directory) issueRefresh(ctx context.Context, username string) (string, time.Time, error) {
	id, err := newSessionID()
	if err != nil {
		return "", time.Time{}, err
	}
	now := d.cfg.Now()
	s := store.Session{ID: id, Username: username, Created: now, LastSeen: now, ExpiresAt: now.Add(d.cfg.RefreshTTL)}
	if err := d.store.CreateSession(ctx, s, d.cfg.MaxAccountSessions, now); err != nil {
		if errors.Is(err, store.ErrLimit) {
			return "", time.Time{}, fmt.Errorf("account %s has the most live sessions allowed, %d (refresh tokens count): log out unused ones: %w",
				username, d.cfg.MaxAccountSessions, ErrLimit)
		}
		return "", time.Time{}, fmt.Errorf("refresh token: %w", err)
	}
	raw, exp, err := d.signer.Sign(token.Scoped(token.ScopeRefresh, d.cfg.Issuer, username, id, ""), now, d.cfg.RefreshTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	return raw, exp, nil
}

// refreshClaims verifies a refresh token and that its row is live.
// Errors: ErrUnauthenticated, never quoting the token.
func (d *Directory) refreshClaims(ctx context.Context, raw string) (token.Claims, error) {
	c, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return token.Claims{}, fmt.Errorf("%w: refresh token: %w", ErrUnauthenticated, err)
	}
	if err := (token.Need{Scopes: []string{token.ScopeRefresh}, Audience: d.cfg.Issuer}).Check(c); err != nil {
		return token.Claims{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	s, err := d.store.GetSession(ctx, c.SessionID, d.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return token.Claims{}, fmt.Errorf("%w: refresh token revoked (logged out) or expired; run peerhub login again", ErrUnauthenticated)
	case err != nil:
		return token.Claims{}, fmt.Errorf("refresh: %w", err)
	case s.Username != c.Subject || s.IsPeer():
		return token.Claims{}, fmt.Errorf("%w: refresh token does not match its record", ErrUnauthenticated)
	}
	return c, nil
}

// Refresh opens a client session for the account of a refresh token,
// without a password check.
// Errors: ErrUnauthenticated for a malformed, forged, expired or revoked
// refresh token, or one of a removed account; ErrLimit as Login.
func (d *Directory) Refresh(ctx context.Context, raw string) (Grant, string, error) {
	c, err := d.refreshClaims(ctx, raw)
	if err != nil {
		return Grant{}, "", err
	}
	g, err := d.openSession(ctx, c.Subject, "", "", "")
	if err != nil {
		return Grant{}, "", err
	}
	d.counters.refreshes.Add(1)
	return g, c.Subject, nil
}

// revokeRefresh revokes a refresh token of the caller's account, as part of
// the caller's logout. A token already revoked or expired is no error.
// Errors: ErrUnauthenticated for a token that is not a refresh token of
// the caller's account.
func (d *Directory) revokeRefresh(ctx context.Context, caller token.Claims, raw string) error {
	c, err := d.refreshClaims(ctx, raw)
	if errors.Is(err, ErrUnauthenticated) {
		if vc, verr := d.verifier.Verify(ctx, raw); verr == nil && vc.Scope == token.ScopeRefresh && vc.Subject == caller.Subject {
			return nil // revoked already
		}
	}
	if err != nil {
		return err
	}
	if c.Subject != caller.Subject {
		return fmt.Errorf("%w: the refresh token is another account's", ErrUnauthenticated)
	}
	if err := d.store.DeleteSession(ctx, c.SessionID, d.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	d.sessionsEnded()
	d.log.Info("refresh token revoked", "user", c.Subject, "refresh", c.SessionID)
	return nil
}
