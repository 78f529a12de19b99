package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/internal/advertise"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// MaxAddressLen is the longest advertise address, in bytes.
const MaxAddressLen = advertise.MaxLen

// Credentials are what a login presents.
type Credentials struct {
	// Username and Password identify the account.
	Username, Password string
	// AdvertiseAddress is the http:// or https:// URL where the caller
	// serves PeerService; set it to log in as a peer, leave it empty for a
	// client session.
	AdvertiseAddress string
	// PeerName is how a peer session is listed; the username if empty.
	PeerName string
	// RemoteAddr is the host:port the login came from, which the login
	// throttle counts attempts by; "" when unknown.
	RemoteAddr string
}

// Grant is a token and what it is good for.
type Grant struct {
	// Token is the bearer token of the session.
	Token string
	// ExpiresAt is when the token stops being accepted.
	ExpiresAt time.Time
	// SessionID identifies the session (the token's "sid").
	SessionID string
	// PeerName is the peer session's listed name; empty for a client.
	PeerName string
	// HeartbeatInterval is how often the session should heartbeat.
	HeartbeatInterval time.Duration
	// RevokedSessions are, for a peer session, the sessions whose tokens
	// the peer must refuse (see RevokedSessions); nil for a client.
	RevokedSessions []string
}

// Login checks credentials and opens a session: a peer session when an
// advertise address is given, else a client session. A peer session's name
// belongs to the account that first logged a peer in with it; a peer that
// logs in again under the same peer name replaces its previous session.
// After failed attempts the password check waits (see throttle.go), up to
// MaxAccountLoginDelay for an account's failures and MaxAddressLoginDelay
// for the address's.
// Errors: ErrInvalidArgument for a malformed username, peer name or
// address, or a password of more than MaxPasswordBytes; ErrUnauthenticated
// for a wrong username or password; ErrTooManyAttempts for more than
// MaxLoginsInFlight attempts at once from the address; ErrAlreadyExists
// when another account owns the peer name; ErrLimit when the account has
// MaxAccountSessions live sessions; ctx's error if it ends while waiting.
func (d *Directory) Login(ctx context.Context, c Credentials) (Grant, error) {
	if err := CheckName(c.Username); err != nil {
		return Grant{}, fmt.Errorf("username: %w", err)
	}
	if err := checkPasswordLength(c.Password); err != nil {
		return Grant{}, err
	}
	peerName := ""
	if c.AdvertiseAddress != "" {
		if err := checkAddress(c.AdvertiseAddress); err != nil {
			return Grant{}, err
		}
		peerName = c.PeerName
		if peerName == "" {
			peerName = c.Username
		}
		if err := CheckName(peerName); err != nil {
			return Grant{}, fmt.Errorf("peer name: %w", err)
		}
	}
	ok, err := d.throttledCheck(ctx, c)
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		return Grant{}, fmt.Errorf("%w: wrong username or password", ErrUnauthenticated)
	}
	// The password check is slow by design (bcrypt); the session starts
	// after it, or a short TTL could be spent before the caller sees it.
	now := d.cfg.Now()
	if _, readOnly := d.readOnly[c.Username]; readOnly {
		// Sessions belong to a store account; give the accounts-file user
		// a placeholder one that no password matches.
		err := d.store.CreateAccount(ctx, store.Account{Name: c.Username, PasswordHash: readOnlyHash, Created: now})
		if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return Grant{}, fmt.Errorf("login: %w", err)
		}
	}
	id, err := newSessionID()
	if err != nil {
		return Grant{}, err
	}
	s := store.Session{
		ID:        id,
		Username:  c.Username,
		PeerName:  peerName,
		Address:   c.AdvertiseAddress,
		Created:   now,
		LastSeen:  now,
		ExpiresAt: now.Add(d.cfg.SessionTTL),
	}
	if err := d.store.CreateSession(ctx, s, d.cfg.MaxAccountSessions, now); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return Grant{}, fmt.Errorf("peer name %s belongs to another account; choose another name (--name): %w", peerName, ErrAlreadyExists)
		}
		if errors.Is(err, store.ErrLimit) {
			return Grant{}, fmt.Errorf("account %s has the most live sessions allowed, %d: log out unused ones or wait %s for them to expire: %w",
				c.Username, d.cfg.MaxAccountSessions, d.cfg.SessionTTL, ErrLimit)
		}
		if errors.Is(err, store.ErrNotFound) {
			// The account was removed between the password check and now.
			return Grant{}, fmt.Errorf("%w: wrong username or password", ErrUnauthenticated)
		}
		return Grant{}, fmt.Errorf("login: %w", err)
	}
	if s.IsPeer() {
		// A replaced session of this peer is revoked now.
		d.revoked.invalidate()
	}
	g, err := d.grant(s, now)
	if err != nil {
		return Grant{}, err
	}
	if g, err = d.withRevocations(ctx, g); err != nil {
		return Grant{}, fmt.Errorf("login: %w", err)
	}
	d.log.Info("logged in", "user", s.Username, "session", s.ID, "peer", s.PeerName, "address", s.Address)
	return g, nil
}

// throttledCheck waits the login throttle's delay for c, then checks its
// password.
// Errors: ErrTooManyAttempts; ctx's error while waiting; a failure of the
// store.
func (d *Directory) throttledCheck(ctx context.Context, c Credentials) (bool, error) {
	wait, end, err := d.throttle.begin(c.Username, c.RemoteAddr)
	if err != nil {
		return false, err
	}
	result := outcomeOther
	defer func() { end(result) }()
	if wait > 0 {
		d.log.Debug("login throttled", "user", c.Username, "remote", c.RemoteAddr, "wait", wait)
		if err := d.cfg.Sleep(ctx, wait); err != nil {
			return false, fmt.Errorf("login: waited for the throttle: %w", err)
		}
	}
	ok, err := d.checkPassword(ctx, c.Username, c.Password)
	if err != nil {
		return false, fmt.Errorf("login: %w", err)
	}
	result = outcomeWrong
	if ok {
		result = outcomeRight
	}
	return ok, nil
}

// grant signs a session token for session s.
func (d *Directory) grant(s store.Session, now time.Time) (Grant, error) {
	claims := token.Scoped(token.ScopeSession, d.cfg.Issuer, s.Username, s.ID, s.PeerName)
	raw, exp, err := d.signer.Sign(claims, now, d.cfg.TokenTTL)
	if err != nil {
		return Grant{}, err
	}
	g := Grant{Token: raw, ExpiresAt: exp, SessionID: s.ID, PeerName: s.PeerName, HeartbeatInterval: d.cfg.HeartbeatInterval}
	d.issued.put(g)
	return g, nil
}

// Heartbeat keeps the caller's session online for another session TTL and
// returns a renewed token; the old one stays valid until it expires. A peer
// session also gets the sessions revoked lately (Grant.RevokedSessions).
// Errors: ErrUnauthenticated when the session has ended.
func (d *Directory) Heartbeat(ctx context.Context, caller token.Claims) (Grant, error) {
	now := d.cfg.Now()
	s, err := d.store.TouchSession(ctx, caller.SessionID, now, now.Add(d.cfg.SessionTTL))
	if errors.Is(err, store.ErrNotFound) {
		return Grant{}, fmt.Errorf("%w: session ended; log in again", ErrUnauthenticated)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("heartbeat: %w", err)
	}
	g, ok := d.issued.recent(s.ID, now, d.cfg.TokenTTL)
	if !ok {
		if g, err = d.grant(s, now); err != nil {
			return Grant{}, err
		}
	}
	return d.withRevocations(ctx, g)
}

// Logout ends the caller's session: its tokens stop working, a peer's
// files leave the index, and the session is revoked (RevokedSessions), so
// peers refuse its transfer tokens from their next heartbeat on.
// Errors: ErrUnauthenticated when the session has already ended.
func (d *Directory) Logout(ctx context.Context, caller token.Claims) error {
	err := d.store.DeleteSession(ctx, caller.SessionID, d.cfg.Now())
	d.revoked.invalidate()
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: session already ended", ErrUnauthenticated)
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	d.log.Info("logged out", "user", caller.Subject, "session", caller.SessionID)
	return nil
}

// checkAddress accepts advertise addresses of scheme, host and port only
// (package advertise).
func checkAddress(addr string) error {
	if err := advertise.Check(addr); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidArgument)
	}
	return nil
}

// newSessionID returns 128 random bits, URL-safe.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
