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
	// heartbeat answers (token.RevocationRetention).
	RevocationRetention = token.RevocationRetention
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

// AuthenticateRelay checks a relay token (token.ScopeRelay) for peer, of
// a live session, and returns its claims.
// Errors: ErrUnauthenticated.
func (d *Directory) AuthenticateRelay(ctx context.Context, raw, peer string) (token.Claims, error) {
	if err := CheckName(peer); err != nil {
		return token.Claims{}, fmt.Errorf("%w: the relay needs the peer's name: %w", ErrUnauthenticated, err)
	}
	return d.authenticate(ctx, raw, token.Need{Scopes: []string{token.ScopeRelay}, Audience: peer})
}

// AuthenticateRead is Authenticate for the read-only calls (Info, Search,
// ListPeers, ListFiles), which also accept a read token (token.ScopeRead)
// of a live session.
// Errors: ErrUnauthenticated.
func (d *Directory) AuthenticateRead(ctx context.Context, raw string) (token.Claims, error) {
	return d.authenticate(ctx, raw, token.Need{Scopes: []string{token.ScopeSession, token.ScopeRead}, Audience: d.cfg.Issuer})
}

// AuthenticateHeartbeat is Authenticate for Heartbeat only: it checks the
// session token but not whether its session lives, which Heartbeat finds
// out itself by extending the session (Directory.Heartbeat): one store
// statement for the heartbeat instead of a read and a write.
// Errors: ErrUnauthenticated.
func (d *Directory) AuthenticateHeartbeat(ctx context.Context, raw string) (token.Claims, error) {
	return d.verify(ctx, raw, token.Need{Scopes: []string{token.ScopeSession}, Audience: d.cfg.Issuer}, d.cfg.Now())
}

// authenticate checks raw against need and its session.
func (d *Directory) authenticate(ctx context.Context, raw string, need token.Need) (token.Claims, error) {
	now := d.cfg.Now()
	c, err := d.verify(ctx, raw, need, now)
	if err != nil {
		return token.Claims{}, err
	}
	s, err := d.liveSession(ctx, c.SessionID, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return token.Claims{}, fmt.Errorf("%w: session ended (logged out or missed its heartbeats); log in again", ErrUnauthenticated)
	case err != nil:
		return token.Claims{}, fmt.Errorf("authenticate: %w", err)
	}
	if err := matchSession(s, c); err != nil {
		return token.Claims{}, err
	}
	return c, nil
}

// verify checks raw's signature (or finds it verified before) and need,
// not its session.
func (d *Directory) verify(ctx context.Context, raw string, need token.Need, now time.Time) (token.Claims, error) {
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
	return c, nil
}

// matchSession checks that token claims c belong to session s: the
// session's account and peer name, as signed into its tokens.
// Errors: ErrUnauthenticated.
func matchSession(s store.Session, c token.Claims) error {
	if s.Username != c.Subject || s.PeerName != c.Peer {
		return fmt.Errorf("%w: token does not match its session", ErrUnauthenticated)
	}
	return nil
}

// liveSession returns the live session id, from liveSessions when it was
// read lately, else from the store.
// Errors: store.ErrNotFound when it has ended; the store's failures.
func (d *Directory) liveSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	if s, ok := d.live.get(id, now); ok {
		return s, nil
	}
	gen := d.live.begin()
	s, err := d.store.GetSession(ctx, id, now)
	if err != nil {
		return store.Session{}, err
	}
	d.live.put(s, now, gen)
	return s, nil
}

// TokenRequest is what IssueToken is asked for.
type TokenRequest struct {
	// Scope is token.ScopeRead, ScopeDownload, ScopeUpload, ScopeStatus or
	// ScopeRelay.
	Scope string
	// Peer is the online peer a download, upload or status token is for;
	// empty for a read token.
	Peer string
	// SHA256 binds a download token to one content (the "sha" claim) and
	// asks for a link to it; empty for a token good for any content.
	SHA256 string
	// Name is the file name the link ends with; only with SHA256.
	Name string
}

// Issued is a token IssueToken signed.
type Issued struct {
	// Token is the signed token.
	Token string
	// ExpiresAt is when it stops being accepted.
	ExpiresAt time.Time
	// Link is the plain HTTP download link, for a request with SHA256:
	// FileLink of the peer's address.
	Link string
	// Pin is the TLS identity of the peer a transfer or status token is
	// for ("" for a read token or a peer serving cleartext).
	Pin string
}

// IssueToken signs a token of r.Scope for the caller's session, valid for
// Config.TransferTTL: a read token addressed to this directory (r.Peer must
// be empty), or a transfer or status token addressed to the online peer
// r.Peer, which only that peer accepts. A download token with r.SHA256 is
// bound to that content and comes with its link. A status token goes only
// to the account that owns the name: it shows who the peer serves.
// Errors: ErrUnauthenticated unless the caller holds a session token;
// ErrInvalidArgument for an unknown scope, a peer with a read token or none
// with a transfer or status token, a malformed peer name, a SHA256 with
// another scope than download or that is not 64 lowercase hex digits, or a
// Name without SHA256 or that is not one portable segment; ErrNotFound when
// no online peer is called r.Peer; ErrNotOwner for a status token of a name
// another account owns.
func (d *Directory) IssueToken(ctx context.Context, caller token.Claims, r TokenRequest) (Issued, error) {
	if caller.Scope != token.ScopeSession {
		return Issued{}, fmt.Errorf("%w: tokens are issued for a session token only, not a %s token", ErrUnauthenticated, caller.Scope)
	}
	if err := checkContent(r); err != nil {
		return Issued{}, err
	}
	now := d.cfg.Now()
	audience := d.cfg.Issuer
	var address string
	switch r.Scope {
	case token.ScopeRead:
		if r.Peer != "" {
			return Issued{}, fmt.Errorf("a read token is for the directory, not for peer %s: %w", r.Peer, ErrInvalidArgument)
		}
	case token.ScopeDownload, token.ScopeUpload, token.ScopeStatus, token.ScopeRelay:
		if r.Peer == "" {
			return Issued{}, fmt.Errorf("a %s token needs the peer it is for: %w", r.Scope, ErrInvalidArgument)
		}
		if err := CheckName(r.Peer); err != nil {
			return Issued{}, fmt.Errorf("peer: %w", err)
		}
		s, err := d.store.PeerSession(ctx, r.Peer, now)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return Issued{}, fmt.Errorf("no online peer is called %s: %w", r.Peer, ErrNotFound)
			}
			return Issued{}, fmt.Errorf("issue token: %w", err)
		}
		if r.Scope == token.ScopeStatus {
			owner, err := d.store.PeerNameOwner(ctx, r.Peer)
			if err != nil {
				return Issued{}, fmt.Errorf("issue token: owner of %s: %w", r.Peer, err)
			}
			if owner != caller.Subject {
				return Issued{}, fmt.Errorf("the status of peer %s is for the account that owns it, not %s: %w", r.Peer, caller.Subject, ErrNotOwner)
			}
		}
		audience, address = r.Peer, s.Address
	default:
		return Issued{}, fmt.Errorf("token scope %q: want %s, %s, %s, %s or %s: %w", r.Scope, token.ScopeRead, token.ScopeDownload, token.ScopeUpload, token.ScopeStatus, token.ScopeRelay, ErrInvalidArgument)
	}
	c := token.Scoped(r.Scope, audience, caller.Subject, caller.SessionID, caller.Peer)
	c.SHA256 = r.SHA256
	raw, exp, err := d.signer.Sign(c, now, d.cfg.TransferTTL)
	if err != nil {
		return Issued{}, err
	}
	out := Issued{Token: raw, ExpiresAt: exp}
	if audience != "" && r.Scope != token.ScopeRead {
		pins, err := d.PeerPins(ctx, []string{r.Peer})
		if err != nil {
			return Issued{}, fmt.Errorf("issue token: %w", err)
		}
		out.Pin = pins[r.Peer].Pin
	}
	if r.SHA256 != "" {
		out.Link = FileLink(address, r.SHA256, r.Name, raw)
	}
	return out, nil
}

// revocationList is the directory's copy of the sessions revoked within
// RevocationRetention, as the store has them, read again when older than
// revocationRefresh or after a revocation made here.
type revocationList struct {
	mu      sync.Mutex // held while the store is read: one read at a time
	rvs     []store.Revocation
	ids     []string  // rvs' ids, in the same order
	fetched time.Time // when rvs were read (Config.Now); zero for never
}

// Revocations is what a peer session's heartbeat learns of revoked
// sessions (Grant).
type Revocations struct {
	// SessionIDs are the sessions whose tokens the peer must refuse: every
	// one revoked within RevocationRetention, or, if Incremental, those
	// revoked since the peer's last list (RevocationsSince). Shared with
	// other grants: read it, do not change it.
	SessionIDs []string
	// Incremental says SessionIDs are to be added to what the peer has;
	// otherwise they replace it.
	Incremental bool
	// AsOf is when the directory read the list; the peer asks with it
	// next time (RevocationsSince).
	AsOf time.Time
}

// revocationOverlap is how far before a peer's last list (its
// RevocationsSince) an incremental list starts again: replicas' clocks
// differ by up to token.ClockSkew, and a revocation is stamped by the
// clock of the replica that made it, which may be behind the one that
// served the peer's last list. Repeats are harmless: the peer keeps a set.
const revocationOverlap = token.ClockSkew

// invalidate makes the next get read the store.
func (l *revocationList) invalidate() {
	l.mu.Lock()
	l.fetched = time.Time{}
	l.mu.Unlock()
}

// RevokedSessions returns the ids of the sessions revoked within
// RevocationRetention: the list a peer needs to refuse their tokens.
func (d *Directory) RevokedSessions(ctx context.Context) ([]string, error) {
	r, err := d.revokedSince(ctx, time.Time{})
	return slices.Clone(r.SessionIDs), err
}

// revokedSince returns what a peer whose last list is as of since (zero
// for none) needs: the whole list, shared (it is replaced whole when read
// again, never changed in place), or only what was revoked since then
// (less revocationOverlap) when since is recent enough for that to be
// complete. Every heartbeat of a peer carries it, so with many peers and
// many revocations the difference is most of a heartbeat's answer.
func (d *Directory) revokedSince(ctx context.Context, since time.Time) (Revocations, error) {
	l := d.revoked
	l.mu.Lock()
	defer l.mu.Unlock()
	now := d.cfg.Now()
	if l.fetched.IsZero() || now.Sub(l.fetched) >= revocationRefresh || now.Before(l.fetched) {
		rvs, err := d.store.RevokedSessions(ctx, now.Add(-RevocationRetention))
		if err != nil {
			return Revocations{}, fmt.Errorf("revoked sessions: %w", err)
		}
		ids := make([]string, len(rvs))
		for i, rv := range rvs {
			ids[i] = rv.SessionID
		}
		l.rvs, l.ids, l.fetched = rvs, ids, now
	}
	from := since.Add(-revocationOverlap)
	// The list holds what was revoked since fetched-RevocationRetention:
	// an increment from before that could miss what was forgotten since.
	if since.IsZero() || since.After(l.fetched) || from.Before(l.fetched.Add(-RevocationRetention)) {
		return Revocations{SessionIDs: l.ids, AsOf: l.fetched}, nil
	}
	i, _ := slices.BinarySearchFunc(l.rvs, from, func(rv store.Revocation, t time.Time) int { return rv.RevokedAt.Compare(t) })
	return Revocations{SessionIDs: slices.Clip(l.ids[i:]), Incremental: true, AsOf: l.fetched}, nil
}

// withRevocations adds the revoked sessions to a peer session's grant
// (whole, or since since when that is complete, see revokedSince); a
// client's is left without.
func (d *Directory) withRevocations(ctx context.Context, g Grant, since time.Time) (Grant, error) {
	if g.PeerName == "" {
		return g, nil
	}
	r, err := d.revokedSince(ctx, since)
	if err != nil {
		return Grant{}, err
	}
	g.Revocations = r
	return g, nil
}

// forgetRevocations drops revocations older than RevocationRetention.
func (d *Directory) forgetRevocations(ctx context.Context, now time.Time) (int, error) {
	return d.store.ForgetRevocations(ctx, now.Add(-RevocationRetention))
}
