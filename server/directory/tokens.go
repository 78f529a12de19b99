package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Revocations: how long ended sessions are announced to peers, and how
// fresh the announced list is.
const (
	// RevocationRetention is how long a revoked session is listed in
	// heartbeat answers: as long as a token of it can be alive at a peer
	// (token.MaxLifetime, the longest lifetime a peer accepts), plus the
	// clock skew a token's not-before claim tolerates.
	RevocationRetention = token.MaxLifetime + token.ClockSkew
	// revocationRefresh is the longest a directory serves its list of
	// revoked sessions from memory before reading the store again, so a
	// revocation made by another replica reaches peers within this much
	// plus one heartbeat. A revocation made here refreshes at once.
	revocationRefresh = time.Second
)

// Authenticate checks a session token for a call that needs one: its
// signature, issuer, expiry, scope (token.ScopeSession) and audience (this
// directory's issuer), and that its session is still live (not logged out,
// not timed out). Read, download and upload tokens are refused.
// Errors: ErrUnauthenticated, saying why but never quoting the token.
func (d *Directory) Authenticate(ctx context.Context, raw string) (token.Claims, error) {
	return d.authenticate(ctx, raw, token.Need{Scopes: []string{token.ScopeSession}, Audience: d.cfg.Issuer})
}

// AuthenticateRead is Authenticate for the read-only calls (Info, Search,
// ListPeers, ListFiles), which also accept a read token (token.ScopeRead)
// of a live session.
// Errors: ErrUnauthenticated.
func (d *Directory) AuthenticateRead(ctx context.Context, raw string) (token.Claims, error) {
	return d.authenticate(ctx, raw, token.Need{Scopes: []string{token.ScopeSession, token.ScopeRead}, Audience: d.cfg.Issuer})
}

// authenticate checks raw against need and its session.
func (d *Directory) authenticate(ctx context.Context, raw string, need token.Need) (token.Claims, error) {
	now := d.cfg.Now()
	c, ok := d.verified.get(raw, now)
	if !ok {
		var err error
		if c, err = d.verifier.Verify(ctx, raw); err != nil {
			return token.Claims{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		d.verified.put(raw, c, now)
	}
	if err := need.Check(c); err != nil {
		return token.Claims{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	s, err := d.store.GetSession(ctx, c.SessionID, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return token.Claims{}, fmt.Errorf("%w: session ended (logged out or missed its heartbeats); log in again", ErrUnauthenticated)
	case err != nil:
		return token.Claims{}, fmt.Errorf("authenticate: %w", err)
	case s.Username != c.Subject || s.PeerName != c.Peer:
		return token.Claims{}, fmt.Errorf("%w: token does not match its session", ErrUnauthenticated)
	}
	return c, nil
}

// IssueToken signs a token of scope (token.ScopeRead, ScopeDownload,
// ScopeUpload or ScopeStatus) for the caller's session, valid for
// Config.TransferTTL: a read token addressed to this directory (peer must be
// empty), or a transfer or status token addressed to the online peer named
// peer, which only that peer accepts. A status token goes only to the
// account that owns the name: it shows who the peer serves.
// Errors: ErrUnauthenticated unless the caller holds a session token;
// ErrInvalidArgument for an unknown scope, a peer with a read token or none
// with a transfer or status token, or a malformed peer name; ErrNotFound
// when no online peer is called peer; ErrNotOwner for a status token of a
// name another account owns.
func (d *Directory) IssueToken(ctx context.Context, caller token.Claims, scope, peer string) (string, time.Time, error) {
	if caller.Scope != token.ScopeSession {
		return "", time.Time{}, fmt.Errorf("%w: tokens are issued for a session token only, not a %s token", ErrUnauthenticated, caller.Scope)
	}
	now := d.cfg.Now()
	audience := d.cfg.Issuer
	switch scope {
	case token.ScopeRead:
		if peer != "" {
			return "", time.Time{}, fmt.Errorf("a read token is for the directory, not for peer %s: %w", peer, ErrInvalidArgument)
		}
	case token.ScopeDownload, token.ScopeUpload, token.ScopeStatus:
		if peer == "" {
			return "", time.Time{}, fmt.Errorf("a %s token needs the peer it is for: %w", scope, ErrInvalidArgument)
		}
		if err := CheckName(peer); err != nil {
			return "", time.Time{}, fmt.Errorf("peer: %w", err)
		}
		if _, err := d.store.PeerSession(ctx, peer, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", time.Time{}, fmt.Errorf("no online peer is called %s: %w", peer, ErrNotFound)
			}
			return "", time.Time{}, fmt.Errorf("issue token: %w", err)
		}
		if scope == token.ScopeStatus {
			owner, err := d.store.PeerNameOwner(ctx, peer)
			if err != nil {
				return "", time.Time{}, fmt.Errorf("issue token: owner of %s: %w", peer, err)
			}
			if owner != caller.Subject {
				return "", time.Time{}, fmt.Errorf("the status of peer %s is for the account that owns it, not %s: %w", peer, caller.Subject, ErrNotOwner)
			}
		}
		audience = peer
	default:
		return "", time.Time{}, fmt.Errorf("token scope %q: want %s, %s, %s or %s: %w", scope, token.ScopeRead, token.ScopeDownload, token.ScopeUpload, token.ScopeStatus, ErrInvalidArgument)
	}
	raw, exp, err := d.signer.Sign(token.Scoped(scope, audience, caller.Subject, caller.SessionID, caller.Peer), now, d.cfg.TransferTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	return raw, exp, nil
}

// revocationList is the directory's copy of the sessions revoked within
// RevocationRetention, as the store has them, read again when older than
// revocationRefresh or after a revocation made here.
type revocationList struct {
	mu      sync.Mutex // held while the store is read: one read at a time
	ids     []string
	fetched time.Time // when ids were read (Config.Now); zero for never
}

// invalidate makes the next get read the store.
func (l *revocationList) invalidate() {
	l.mu.Lock()
	l.fetched = time.Time{}
	l.mu.Unlock()
}

// RevokedSessions returns the ids of the sessions revoked within
// RevocationRetention: the list a peer needs to refuse their tokens.
func (d *Directory) RevokedSessions(ctx context.Context) ([]string, error) {
	l := d.revoked
	l.mu.Lock()
	defer l.mu.Unlock()
	now := d.cfg.Now()
	if l.fetched.IsZero() || now.Sub(l.fetched) >= revocationRefresh || now.Before(l.fetched) {
		ids, err := d.store.RevokedSessions(ctx, now.Add(-RevocationRetention))
		if err != nil {
			return nil, fmt.Errorf("revoked sessions: %w", err)
		}
		l.ids, l.fetched = ids, now
	}
	return slices.Clone(l.ids), nil
}

// withRevocations adds the revoked sessions to a peer session's grant; a
// client's is left without.
func (d *Directory) withRevocations(ctx context.Context, g Grant) (Grant, error) {
	if g.PeerName == "" {
		return g, nil
	}
	ids, err := d.RevokedSessions(ctx)
	if err != nil {
		return Grant{}, err
	}
	g.RevokedSessions = ids
	return g, nil
}

// forgetRevocations drops revocations older than RevocationRetention.
func (d *Directory) forgetRevocations(ctx context.Context, now time.Time) (int, error) {
	return d.store.ForgetRevocations(ctx, now.Add(-RevocationRetention))
}
