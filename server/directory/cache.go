package directory

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Caches that keep Ed25519 off the hot path: every call verifies a token
// and every heartbeat would sign one, and those two operations cost more
// CPU than the rest of a heartbeat together.
const (
	// maxCachedTokens bounds each cache; past it, expired entries are
	// dropped, and if that is not enough the cache starts over.
	maxCachedTokens = 1 << 16
	// reissueFraction of the token TTL is how old a session's newest token
	// may be before a heartbeat signs a new one (1 minute of the default
	// 15): the token handed back always has at least 14/15 of its life
	// left.
	reissueFraction = 15
)

// verifiedCache remembers tokens whose signature was verified, until they
// expire. The key is the SHA-256 of the token's bytes, so a hit means the
// very same bytes passed verification before; only expiry can have changed,
// and get checks it. It must be the bytes, not the token id: a forged token
// can carry a live token's id. Only canonical encodings pass verification
// (token.Verifier decodes strictly), so one token has one key. Whether the
// session still lives is another question, which liveSessions answers.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]token.Claims
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{m: make(map[[sha256.Size]byte]token.Claims)}
}

func (c *verifiedCache) get(raw string, now time.Time) (token.Claims, bool) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[key]
	if !ok || cl.ExpiresAt == nil || !now.Before(cl.ExpiresAt.Time) {
		return token.Claims{}, false
	}
	return cl, true
}

func (c *verifiedCache) put(raw string, cl token.Claims, now time.Time) {
	if cl.ExpiresAt == nil {
		return
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedTokens {
		c.pruneLocked(now)
		if len(c.m) >= maxCachedTokens {
			clear(c.m)
		}
	}
	c.m[key] = cl
}

func (c *verifiedCache) prune(now time.Time) {
	c.mu.Lock()
	c.pruneLocked(now)
	c.mu.Unlock()
}

func (c *verifiedCache) pruneLocked(now time.Time) {
	for key, cl := range c.m {
		if !now.Before(cl.ExpiresAt.Time) {
			delete(c.m, key)
		}
	}
}

// issuedCache remembers each session's newest grant, so a heartbeat soon
// after the previous one hands the same token back instead of signing a new
// one. Clients then also present the same token, which verifiedCache
// answers.
type issuedCache struct {
	mu sync.Mutex
	m  map[string]Grant // by session id
}

func newIssuedCache() *issuedCache { return &issuedCache{m: make(map[string]Grant)} }

// recent returns the session's newest grant if it was issued less than
// ttl/reissueFraction ago (ttl being the token TTL it was issued with).
func (c *issuedCache) recent(sessionID string, now time.Time, ttl time.Duration) (Grant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.m[sessionID]
	if !ok || g.ExpiresAt.Sub(now) <= ttl-ttl/reissueFraction || g.ExpiresAt.Sub(now) > ttl {
		return Grant{}, false
	}
	return g, true
}

func (c *issuedCache) put(g Grant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedTokens {
		clear(c.m) // rare: only costs a few signatures
	}
	c.m[g.SessionID] = g
}

func (c *issuedCache) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, g := range c.m {
		if !now.Before(g.ExpiresAt) {
			delete(c.m, id)
		}
	}
}

// SessionRecheck is how long a directory trusts a session it read as live
// before reading the store again: the longest that a logout or revocation
// made through another replica on the same store (or by `peerhub directory
// user remove` on its database) goes unnoticed here. One made through this
// directory takes effect at once (liveSessions.forget).
const SessionRecheck = time.Second

// liveSessions remembers sessions read as live, so that a call does not read
// the store to learn that its session has not ended. An entry is trusted
// until the earlier of its session's expiry as read and SessionRecheck after
// the read; every change that ends sessions here forgets them all. A read
// that raced such a change is not remembered: put only stores what was read
// under the generation that begin returned, and forget starts a new one.
type liveSessions struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string]liveSession // by session id
}

// liveSession is a session as read from the store at read, trusted until
// until.
type liveSession struct {
	s           store.Session
	read, until time.Time
}

func newLiveSessions() *liveSessions { return &liveSessions{m: make(map[string]liveSession)} }

// get returns session id if it was read as live less than SessionRecheck
// before now and has not expired at now.
func (l *liveSessions) get(id string, now time.Time) (store.Session, bool) {
	l.mu.RLock()
	e, ok := l.m[id]
	l.mu.RUnlock()
	if !ok || now.Before(e.read) || !now.Before(e.until) {
		return store.Session{}, false
	}
	return e.s, true
}

// begin returns the generation to pass to put for a read that starts now.
func (l *liveSessions) begin() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.gen
}

// put remembers s, read as live at now by a read that began in generation
// gen; it is dropped if sessions ended since.
func (l *liveSessions) put(s store.Session, now time.Time, gen uint64) {
	until := now.Add(SessionRecheck)
	if s.ExpiresAt.Before(until) {
		until = s.ExpiresAt
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return
	}
	if len(l.m) >= maxCachedTokens {
		for id, e := range l.m {
			if !now.Before(e.until) {
				delete(l.m, id)
			}
		}
		if len(l.m) >= maxCachedTokens {
			clear(l.m)
		}
	}
	l.m[s.ID] = liveSession{s: s, read: now, until: until}
}

// forget drops every remembered session and every read still under way:
// the next call of each session reads the store.
func (l *liveSessions) forget() {
	l.mu.Lock()
	l.gen++
	clear(l.m)
	l.mu.Unlock()
}

// prune drops the entries no longer trusted at now.
func (l *liveSessions) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, e := range l.m {
		if !now.Before(e.until) {
			delete(l.m, id)
		}
	}
}
