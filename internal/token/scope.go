package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Scopes: what a token is for. Each is accepted by one party only, named by
// the token's audience, and only for the calls listed, so a token seen by
// one party is worth nothing anywhere else.
const (
	// ScopeSession is the directory session token that Login and
	// Heartbeat return. Only the directory accepts it (audience: the
	// directory's issuer), for every call that needs a token. A client
	// sends it to its directory and nowhere else.
	ScopeSession = "session"
	// ScopeRead is for the directory's read-only calls (GetInfo, Search,
	// ListPeers, ListFiles), e.g. sent through a peer that forwards them
	// (an access point). Audience: the directory's issuer.
	ScopeRead = "read"
	// ScopeDownload is for Stat and Download at one peer, the audience
	// (its peer name).
	ScopeDownload = "download"
	// ScopeUpload is for Upload at one peer, the audience (its peer name).
	ScopeUpload = "upload"
	// ScopeRefresh is the long-lived token `peerhub login` stores instead
	// of the password. Only the directory accepts it (audience: its
	// issuer), and only in the body of Refresh and Logout: never as a
	// bearer token, so no call takes it for a session.
	ScopeRefresh = "refresh"
	// ScopeStatus is for Status at one peer, the audience (its peer name).
	// The directory issues it only to the account that owns that name, so
	// only the peer's owner sees what it serves and to whom.
	ScopeStatus = "status"
	// ScopeRelay is for the directory's relay, to open a relayed
	// connection to one peer, the audience (its peer name). The relay
	// accepts it for that peer only; no peer accepts it.
	ScopeRelay = "relay"
)

// Lifetimes of scoped tokens.
const (
	// TransferTTL is how long a read, download, upload or status token is
	// valid after its issue: a transfer that outlives it asks for a new one.
	TransferTTL = 5 * time.Minute
	// MaxLifetime is the longest lifetime (expiry less issue time) a peer
	// accepts of a token, and so how long after a session ends a token of
	// it can still be alive anywhere; a revoked session is announced to
	// peers for that long (plus ClockSkew).
	MaxLifetime = 10 * time.Minute
	// RevocationRetention is how long a revoked session matters: as long
	// as a token of it can be alive at a peer (MaxLifetime) plus the clock
	// skew a token's not-before claim tolerates. The directory lists a
	// revocation for that long; a peer keeps one it learned for that long.
	RevocationRetention = MaxLifetime + ClockSkew
)

// Scoped returns the claims of a token of scope for audience, issued to
// account subject in the directory session sessionID; peer is that
// session's peer name (empty for a client session).
func Scoped(scope, audience, subject, sessionID, peer string) Claims {
	c := Claims{SessionID: sessionID, Peer: peer, Scope: scope}
	c.Subject = subject
	c.Audience = jwt.ClaimStrings{audience}
	return c
}

// HasAudience reports whether aud is one of the token's audiences.
func (c Claims) HasAudience(aud string) bool {
	return aud != "" && slices.Contains(c.Audience, aud)
}

// Need is what a call needs of a token beyond a valid signature: one of
// some scopes, and a given audience.
type Need struct {
	// Scopes are the scopes the call accepts; at least one.
	Scopes []string
	// Audience must be among the token's audiences.
	Audience string
	// Content is the SHA-256 of the content the call serves, when the
	// call names it before anything is served (a peer's /files route). A
	// token bound to a content (Claims.SHA256) meets only a Need of that
	// same Content: a call that does not know its content yet (Content
	// empty) refuses such a token.
	Content string
}

// ErrNotForThis means a valid token is not for this call: its scope or its
// audience is another. It wraps ErrInvalid; the error that wraps it says
// what token the call needs.
var ErrNotForThis = fmt.Errorf("%w: not for this call", ErrInvalid)

// Check reports whether c meets n. The error wraps ErrNotForThis and says
// which token was presented and which one the call needs, never quoting
// the token.
func (n Need) Check(c Claims) error {
	scopeOK := slices.Contains(n.Scopes, c.Scope)
	if scopeOK && c.HasAudience(n.Audience) {
		if c.SHA256 == "" || c.SHA256 == n.Content {
			return nil
		}
		if n.Content == "" {
			return fmt.Errorf("%w: a %s token bound to one content is good only for that content's link (/files/<sha256>)", ErrNotForThis, c.Scope)
		}
		return fmt.Errorf("%w: this %s token is bound to another content", ErrNotForThis, c.Scope)
	}
	have := "a token without a scope"
	if c.Scope != "" {
		have = "a " + c.Scope + " token"
	}
	if len(c.Audience) > 0 {
		have += " for " + strings.Join(c.Audience, ", ")
	}
	return fmt.Errorf("%w: %s cannot be used here; this call needs a %s token for %s",
		ErrNotForThis, have, strings.Join(n.Scopes, " or "), n.Audience)
}

// VerifyFor is Verify that also checks need (before the lifetime, so that
// a token for another call is refused with a message naming the token the
// call needs).
// Errors: ErrInvalid (ErrNotForThis for a valid token of another scope or
// audience), wrapped with the reason.
func (v *Verifier) VerifyFor(ctx context.Context, raw string, need Need) (Claims, error) {
	return v.verify(ctx, raw, &need)
}
