package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// The failed-login rate limit.
const (
	// MaxLoginFailures is how many failed logins one account may have
	// within LoginFailureWindow; the next attempt is refused with
	// ErrTooManyAttempts, right password or not.
	MaxLoginFailures = 5
	// LoginFailureWindow is how long a failed login counts.
	LoginFailureWindow = time.Minute
	// maxTrackedAccounts bounds the failure counters' memory: past it, new
	// usernames are not counted until old failures age out. bcrypt's cost
	// still bounds the guessing rate.
	maxTrackedAccounts = 100_000
	// MaxAddressLen is the longest advertise address, in bytes.
	MaxAddressLen = 2048
)

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
// advertise address is given, else a client session. A peer that logs in
// again under the same peer name replaces its previous session.
// Errors: ErrInvalidArgument for a malformed username, peer name or
// address; ErrUnauthenticated for a wrong username or password;
// ErrTooManyAttempts after MaxLoginFailures failures of the account within
// LoginFailureWindow; ErrAlreadyExists when another account's online peer
// holds the peer name.
func (d *Directory) Login(ctx context.Context, c Credentials) (Grant, error) {
	if err := CheckName(c.Username); err != nil {
		return Grant{}, fmt.Errorf("username: %w", err)
	}
	if c.Password == "" || len(c.Password) > 1024 {
		return Grant{}, fmt.Errorf("password: want 1 to 1024 bytes: %w", ErrInvalidArgument)
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
	now := d.cfg.Now()
	if wait, blocked := d.failures.blocked(c.Username, now); blocked {
		return Grant{}, fmt.Errorf("user %s: %w in the last %s; try again in %s", c.Username, ErrTooManyAttempts, LoginFailureWindow, wait.Round(time.Second))
	}
	ok, err := d.checkPassword(ctx, c.Username, c.Password)
	if err != nil {
		return Grant{}, fmt.Errorf("login: %w", err)
	}
	if !ok {
		d.failures.fail(c.Username, now)
		return Grant{}, fmt.Errorf("%w: wrong username or password", ErrUnauthenticated)
	}
	d.failures.reset(c.Username)
	// The password check is slow by design (bcrypt); the session starts
	// after it, or a short TTL could be spent before the caller sees it.
	now = d.cfg.Now()
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
	if err := d.store.CreateSession(ctx, s, now); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return Grant{}, fmt.Errorf("peer name %s is held by another account's online peer: %w", peerName, ErrAlreadyExists)
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

// checkAddress accepts absolute http:// and https:// URLs with a host.
func checkAddress(addr string) error {
	u, err := url.Parse(addr)
	if len(addr) > MaxAddressLen || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("advertise address %q: want an http:// or https:// URL with a host, at most %d bytes: %w", truncate(addr, 128), MaxAddressLen, ErrInvalidArgument)
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

// limiter counts failed logins per account in a sliding window. The check
// and the count are not one atomic step: a burst of concurrent attempts may
// overshoot MaxLoginFailures by the burst's size, which bcrypt's cost keeps
// small.
type limiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time // oldest first
}

func newLimiter() *limiter { return &limiter{fails: make(map[string][]time.Time)} }

// recent returns the failures of name still inside the window at now. The
// caller holds mu.
func (l *limiter) recent(name string, now time.Time) []time.Time {
	f := l.fails[name]
	i := 0
	for i < len(f) && !f[i].After(now.Add(-LoginFailureWindow)) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.fails, name)
	} else {
		l.fails[name] = f
	}
	return f
}

// blocked reports whether name has used up its failures, and how long until
// the oldest one ages out.
func (l *limiter) blocked(name string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.recent(name, now)
	if len(f) < MaxLoginFailures {
		return 0, false
	}
	return f[0].Add(LoginFailureWindow).Sub(now), true
}

// fail records a failed login of name at now.
func (l *limiter) fail(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, tracked := l.fails[name]; !tracked && len(l.fails) >= maxTrackedAccounts {
		l.pruneLocked(now)
		if len(l.fails) >= maxTrackedAccounts {
			return
		}
	}
	f := append(l.recent(name, now), now)
	if len(f) > MaxLoginFailures {
		f = f[len(f)-MaxLoginFailures:]
	}
	l.fails[name] = f
}

// reset forgets the failures of name after a successful login.
func (l *limiter) reset(name string) {
	l.mu.Lock()
	delete(l.fails, name)
	l.mu.Unlock()
}

// prune forgets failures that aged out of the window.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	l.pruneLocked(now)
	l.mu.Unlock()
}

func (l *limiter) pruneLocked(now time.Time) {
	for name := range l.fails {
		l.recent(name, now)
	}
}
