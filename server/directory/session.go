package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/internal/advertise"
	"github.com/peerhub/peerhub/internal/identity"
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
	// Refresh asks for a refresh token besides the session (client
	// sessions only; see Refresh).
	Refresh bool
	// KeyProof proves that a peer serving https:// holds its TLS key;
	// required for such a peer (see pins.go).
	KeyProof *KeyProof
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
	// SessionTTL is how long a peer session stays online after a
	// heartbeat (Config.SessionTTL).
	SessionTTL time.Duration
	// RefreshToken and RefreshExpiresAt are set when the login asked for
	// a refresh token (Credentials.Refresh).
	RefreshToken     string
	RefreshExpiresAt time.Time
	// Revocations are, for a peer session, the sessions whose tokens the
	// peer must refuse (see RevokedSessions); empty for a client.
	Revocations Revocations
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
		if c.Refresh {
			return Grant{}, fmt.Errorf("a refresh token is for a client session, not a peer's: %w", ErrInvalidArgument)
		}
	}
	pin, err := d.provenPin(c)
	if err != nil {
		return Grant{}, err
	}
	ok, err := d.throttledCheck(ctx, c)
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		return Grant{}, fmt.Errorf("%w: wrong username or password", ErrUnauthenticated)
	}
	var previous string
	if c.AdvertiseAddress != "" {
		// For the log only: the login binds the pin itself.
		if pins, err := d.store.PeerPins(ctx, []string{peerName}); err == nil {
			previous = pins[peerName].Pin
		}
	}
	g, err := d.openSession(ctx, c.Username, peerName, c.AdvertiseAddress, pin)
	if err != nil {
		return Grant{}, err
	}
	if previous != "" && pin != "" && previous != string(pin) {
		d.log.Warn("peer key changed", "peer", g.PeerName, "user", c.Username, "address", c.AdvertiseAddress, "previous_pin", previous, "pin", string(pin))
	}
	if c.AdvertiseAddress != "" {
		d.counters.peerLogins.Add(1)
		d.checkReach(g.PeerName, g.SessionID, c.AdvertiseAddress, c.RemoteAddr, pin)
	} else {
		d.counters.clientLogins.Add(1)
	}
	if c.Refresh {
		if g.RefreshToken, g.RefreshExpiresAt, err = d.issueRefresh(ctx, c.Username); err != nil {
			// The session stays: the caller may still use it.
			return Grant{}, err
		}
	}
	return g, nil
}

// openSession opens a session of account username, whose credentials were
// checked: a peer session when address is set, else a client session.
// The password check is slow by design (bcrypt); the session starts after
// it, or a short TTL could be spent before the caller sees it.
// Errors: those of Login after the password check.
func (d *Directory) openSession(ctx context.Context, username, peerName, address string, pin identity.Pin) (Grant, error) {
	c := Credentials{Username: username, AdvertiseAddress: address}
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
		ExpiresAt: now.Add(d.sessionTTL(address != "")),
		Pin:       string(pin),
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
		d.sessionsEnded()
	}
	g, err := d.grant(s, now)
	if err != nil {
		return Grant{}, err
	}
	if g, err = d.withRevocations(ctx, g, time.Time{}); err != nil {
		return Grant{}, fmt.Errorf("login: %w", err)
	}
	d.log.Info("logged in", "user", s.Username, "session", s.ID, "peer", s.PeerName, "address", s.Address)
	return g, nil
}

// sessionTTL is how long a session lives after its login or last
// heartbeat. Presence belongs to peers: a peer session lives
// Config.SessionTTL, so a peer that stops heartbeating goes offline soon; a
// client session (curl, scripts, the CLI) lives as long as its token,
// heartbeats or not.
func (d *Directory) sessionTTL(peer bool) time.Duration {
	if peer {
		return d.cfg.SessionTTL
	}
	return d.cfg.TokenTTL
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
	g := Grant{Token: raw, ExpiresAt: exp, SessionID: s.ID, PeerName: s.PeerName,
		HeartbeatInterval: d.cfg.HeartbeatInterval, SessionTTL: d.cfg.SessionTTL}
	d.issued.put(g)
	return g, nil
}

// Heartbeat keeps the caller's peer session online for another session
// TTL, or renews a client session for another token TTL, and returns a
// renewed token (with the current heartbeat interval and session TTL); the
// old one stays valid until it expires. A peer session also gets the
// sessions revoked lately (Grant.Revocations): all of them, or only those
// since revocationsSince, the AsOf of the list it has (zero for none).
// caller's session need
// not have been checked (AuthenticateHeartbeat): Heartbeat checks that it
// lives and matches caller's claims (see touch for when that comes from
// memory).
// Errors: ErrUnauthenticated when the session has ended or does not match.
func (d *Directory) Heartbeat(ctx context.Context, caller token.Claims, revocationsSince time.Time) (Grant, error) {
	now := d.cfg.Now()
	// A session token's peer claim is its session's peer name (checked by
	// touch): empty for a client session.
	s, err := d.touch(ctx, caller, now, d.sessionTTL(caller.Peer != ""))
	if err != nil {
		return Grant{}, err
	}
	if s.IsPeer() {
		d.recheckReach(s.PeerName, s.ID)
	}
	g, ok := d.issued.recent(s.ID, now, d.cfg.TokenTTL)
	if !ok {
		if g, err = d.grant(s, now); err != nil {
			return Grant{}, err
		}
	}
	return d.withRevocations(ctx, g, revocationsSince)
}

// Logout ends the caller's session: its tokens stop working, a peer's
// files leave the index, and the session is revoked (RevokedSessions), so
// peers refuse its transfer tokens from their next heartbeat on.
// refresh, if not empty, is a refresh token of the caller's account to
// revoke first.
// Errors: ErrUnauthenticated when the session has already ended, or refresh
// is not a refresh token of the caller's account.
func (d *Directory) Logout(ctx context.Context, caller token.Claims, refresh string) error {
	if refresh != "" {
		if err := d.revokeRefresh(ctx, caller, refresh); err != nil {
			return err
		}
	}
	err := d.store.DeleteSession(ctx, caller.SessionID, d.cfg.Now())
	d.sessionsEnded()
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: session already ended", ErrUnauthenticated)
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	d.log.Info("logged out", "user", caller.Subject, "session", caller.SessionID)
	return nil
}

// sessionsEnded is called after every change that may have ended sessions
// (logout, a peer replacing its session, a revoked refresh token, a removed
// account, a forced release of a peer name): calls of those sessions are
// refused from now on, and peers learn of them at their next heartbeat.
func (d *Directory) sessionsEnded() {
	d.live.forget()
	d.revoked.invalidate()
	// Their peers' files leave live searches now, not at the next poll.
	d.watches.poke()
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
