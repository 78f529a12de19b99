// Package token owns peerhub's access tokens: JWTs signed by the directory
// with Ed25519 keys and verified offline by anyone who holds the public keys
// (every peer fetches them from DirectoryService.GetInfo).
//
// Every token has a scope, what it is for (see scope.go), and an audience,
// who may accept it: the directory's session and read tokens are addressed
// to the directory, a transfer token to one peer.
//
// It knows nothing of sessions: whether a session is still open is the
// directory's business (and, for revoked sessions, the peers'); a token here
// is valid when its signature, issuer, expiry, lifetime, scope and audience
// are.
package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is the JWT "alg" of every peerhub token.
const Algorithm = "EdDSA"

// DefaultIssuer is the "iss" claim a directory uses unless configured.
const DefaultIssuer = "peerhub-directory"

// ErrInvalid means a token is missing, malformed, forged, expired, or signed
// by an unknown key. The wrapped message says which, and never contains the
// token itself.
var ErrInvalid = errors.New("invalid token")

// Claims are what a peerhub token asserts.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the directory session the token belongs to.
	SessionID string `json:"sid"`
	// Peer is the peer name of the session the token belongs to; empty for
	// a client session.
	Peer string `json:"peer,omitempty"`
	// Scope is what the token is for: ScopeSession, ScopeRead,
	// ScopeDownload or ScopeUpload. Who accepts which is in scope.go.
	Scope string `json:"scope"`
	// SHA256 binds a download token to one content (64 lowercase hex
	// digits): a peer accepts it only where the call names that content
	// before anything is served (Need.Content). Empty for a token good for
	// any content.
	SHA256 string `json:"sha,omitempty"`
}

// Username is the account the token was issued to (the "sub" claim).
func (c Claims) Username() string { return c.Subject }

// PublicKey is a verification key and its id.
type PublicKey struct {
	// ID is the JWT "kid" of the tokens it verifies.
	ID string
	// Key is the Ed25519 public key.
	Key ed25519.PublicKey
}

// Signer issues tokens with one private key.
type Signer struct {
	id     string
	key    ed25519.PrivateKey
	issuer string
}

// NewSigner returns a Signer that signs with key under key id id.
func NewSigner(id string, key ed25519.PrivateKey, issuer string) *Signer {
	return &Signer{id: id, key: key, issuer: issuer}
}

// ClockSkew is how far apart the clocks of the directory and a peer may be
// for a token to be accepted at once: its not-before claim is this much
// before its issue.
const ClockSkew = time.Minute

// Issuer is the "iss" claim of the tokens s signs, which is also the
// audience of the directory's own (session and read) tokens.
func (s *Signer) Issuer() string { return s.issuer }

// Sign returns a signed token for claims, valid from now for ttl. It sets
// the issuer, issued-at and expiry claims, and a random token id ("jti")
// unless claims carry one: the identity by which a token can be named
// (revoked, logged, cached) without keeping the token itself.
func (s *Signer) Sign(c Claims, now time.Time, ttl time.Duration) (string, time.Time, error) {
	exp := now.Add(ttl)
	if c.ID == "" {
		c.ID = rand.Text()
	}
	c.Issuer = s.issuer
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now.Add(-ClockSkew)) // tolerate clock skew between hosts
	c.ExpiresAt = jwt.NewNumericDate(exp)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.id
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// KeySource fetches the current verification keys, e.g. from GetInfo.
type KeySource func(ctx context.Context) ([]PublicKey, error)

// Verifier checks tokens offline against a set of public keys. When a token
// names a key id it does not know, it refreshes the set from its KeySource
// (at most once per RefreshInterval) before giving up, so a directory that
// rotated or regenerated its keys is followed without a restart.
type Verifier struct {
	issuer      string
	source      KeySource
	now         func() time.Time
	refresh     time.Duration
	maxLifetime time.Duration // 0: any

	mu          sync.RWMutex
	keys        map[string]ed25519.PublicKey
	lastRefresh time.Time
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// WithKeySource lets the Verifier refresh its keys when it meets an unknown
// key id.
func WithKeySource(src KeySource) VerifierOption { return func(v *Verifier) { v.source = src } }

// WithClock sets the clock that decides expiry (tests inject one).
func WithClock(now func() time.Time) VerifierOption { return func(v *Verifier) { v.now = now } }

// WithMaxLifetime makes the Verifier refuse every token whose lifetime
// (expiry less issue time) is longer than d, or that lacks an issue time: a
// peer bounds how long a token it accepts can outlive what the token was
// issued for, whatever the directory's settings. d must be positive.
func WithMaxLifetime(d time.Duration) VerifierOption {
	return func(v *Verifier) { v.maxLifetime = d }
}

// RefreshInterval is the least time between two key refreshes, so a flood of
// tokens with made-up key ids cannot turn into a flood of GetInfo calls.
const RefreshInterval = 5 * time.Second

// NewVerifier returns a Verifier for tokens from issuer, knowing keys.
func NewVerifier(issuer string, keys []PublicKey, opts ...VerifierOption) *Verifier {
	v := &Verifier{issuer: issuer, now: time.Now, refresh: RefreshInterval}
	for _, o := range opts {
		o(v)
	}
	v.SetKeys(keys)
	return v
}

// SetKeys replaces the known keys.
func (v *Verifier) SetKeys(keys []PublicKey) {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		m[k.ID] = k.Key
	}
	v.mu.Lock()
	v.keys = m
	v.mu.Unlock()
}

// Verify checks a token and returns its claims.
// Errors: ErrInvalid (wrapped with the reason).
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	return v.verify(ctx, raw, nil)
}

// verify checks a token, then that it meets need (if not nil), then its
// lifetime: a token that is not for the call is refused as such, whatever
// its lifetime, so the caller learns which token to send.
func (v *Verifier) verify(ctx context.Context, raw string, need *Need) (Claims, error) {
	if raw == "" {
		return Claims{}, fmt.Errorf("no token: %w", ErrInvalid)
	}
	c, err := v.parse(raw)
	if errors.Is(err, errUnknownKey) && v.source != nil && v.refreshKeys(ctx) {
		c, err = v.parse(raw)
	}
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalid, reason(err))
	}
	if need != nil {
		if err := need.Check(c); err != nil {
			return Claims{}, err
		}
	}
	if err := v.checkLifetime(c); err != nil {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return c, nil
}

// checkLifetime enforces WithMaxLifetime.
func (v *Verifier) checkLifetime(c Claims) error {
	if v.maxLifetime <= 0 {
		return nil
	}
	if c.IssuedAt == nil {
		return errors.New("token lacks its issue time (iat)")
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > v.maxLifetime {
		return fmt.Errorf("lifetime too long: valid for %s, at most %s accepted", life, v.maxLifetime)
	}
	return nil
}

var errUnknownKey = errors.New("unknown key id")

func (v *Verifier) parse(raw string) (Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		v.mu.RLock()
		k, ok := v.keys[kid]
		v.mu.RUnlock()
		if !ok {
			return nil, errUnknownKey
		}
		return k, nil
	},
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(v.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(v.now),
		// Only the canonical base64url encoding of a token is accepted:
		// the lenient decoder ignores the padding bits of each part's
		// last character, so without this several strings would be the
		// same valid token, and anything keyed on the string (a cache,
		// a log correlation) could be split or bypassed by re-encoding.
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return Claims{}, err
	}
	if c.SessionID == "" || c.Subject == "" {
		return Claims{}, errors.New("token lacks sid or sub")
	}
	return c, nil
}

// refreshKeys reloads the keys unless it did so recently; it reports whether
// the key set was reloaded.
func (v *Verifier) refreshKeys(ctx context.Context) bool {
	v.mu.Lock()
	if !v.lastRefresh.IsZero() && v.now().Sub(v.lastRefresh) < v.refresh {
		v.mu.Unlock()
		return false
	}
	v.lastRefresh = v.now()
	v.mu.Unlock()
	keys, err := v.source(ctx)
	if err != nil {
		return false
	}
	v.SetKeys(keys)
	return true
}

// reason turns a jwt error into a short, token-free explanation.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, errUnknownKey):
		return "signed by an unknown key"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	default:
		return err.Error()
	}
}

type claimsKey struct{}

// NewContext returns ctx carrying the verified claims of the caller.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the caller's verified claims, if the request was
// authenticated.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}
