// Package directory owns the directory's domain rules: who may log in (store
// accounts and a read-only htpasswd file), sessions and their tokens,
// presence by heartbeat, login throttling, peer names owned by accounts,
// per-account quotas, the file index each peer publishes and the searches
// over it. It knows nothing of Connect or the
// generated protocol types: the RPC edge (package server) decodes requests
// into the plain types here and maps the sentinel errors below to codes.
//
// State lives in a store.Store; the Directory itself holds only the signing
// key, the verifier, the read-only accounts and the login throttle's
// counters.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/internal/buildinfo"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Defaults of Config.
const (
	// DefaultHeartbeatInterval is how often a session should heartbeat.
	DefaultHeartbeatInterval = 10 * time.Second
	// DefaultSessionTTLFactor times the heartbeat interval is the default
	// session TTL: a peer survives two lost heartbeats.
	DefaultSessionTTLFactor = 3
	// DefaultTokenTTL is how long a token is accepted (if its session is
	// still live). Short, because a peer verifies tokens offline and cannot
	// learn of a logout before the token expires.
	DefaultTokenTTL = 15 * time.Minute
	// DefaultMaxPublishEntries is the most entries one Publish call may
	// carry (files of a snapshot, or added plus removed of a delta).
	DefaultMaxPublishEntries = 10_000
	// DefaultMaxPeerFiles is the most files one peer may have published.
	DefaultMaxPeerFiles = 100_000
	// DefaultMaxAccountFiles is the most files the peers of one account
	// may have published together: five full peers.
	DefaultMaxAccountFiles = 5 * DefaultMaxPeerFiles
	// DefaultMaxAccountSessions is the most live sessions (peers and
	// clients) one account may have: room for a few peers and many
	// one-shot commands, each of which holds a session for up to a token
	// TTL if it does not log out (a client session lives until its token
	// expires), and for refresh tokens, each of which holds one until it
	// is revoked or expires.
	DefaultMaxAccountSessions = 64
	// DefaultPasswordCost is the bcrypt cost of new password hashes
	// (bcrypt.DefaultCost, ~50 ms per hash on a current core).
	DefaultPasswordCost = bcrypt.DefaultCost
)

// Page sizes of Search, ListPeers and ListFiles.
const (
	// DefaultPageSize is used when a request leaves the page size at 0.
	DefaultPageSize = 50
	// MaxPageSize is the largest page a request may ask for.
	MaxPageSize = 1000
)

// Sentinel errors. Every error a Directory method returns for a caller's
// mistake wraps one of them, with context saying what was wrong; the RPC
// edge maps them to codes. Any other error (I/O, a database failure, a
// cancelled context) is the directory's own failure.
var (
	// ErrInvalidArgument means a request is malformed (a bad name, hash,
	// address or page token). It is store.ErrInvalidArgument, so store
	// errors of that kind match too.
	ErrInvalidArgument = store.ErrInvalidArgument
	// ErrUnauthenticated means wrong credentials, or a token that is
	// missing, malformed, forged, expired, or whose session has ended
	// (logged out or timed out).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrTooManyAttempts means too many logins run at once from one
	// address (MaxLoginsInFlight); the login was refused before its
	// password was checked.
	ErrTooManyAttempts = errors.New("too many login attempts")
	// ErrNotPeer means a client session (one without an advertise address)
	// tried to publish files it cannot serve.
	ErrNotPeer = errors.New("not a peer session")
	// ErrReadOnly means an account comes from the accounts (htpasswd) file
	// and cannot be changed through the directory.
	ErrReadOnly = errors.New("read-only account")
	// ErrLimit means a change has more entries than one call, one peer or
	// one account may have, or an account has as many sessions as it may;
	// nothing was changed. It is store.ErrLimit.
	ErrLimit = store.ErrLimit
	// ErrInUse means a peer name cannot be released while its peer is
	// online. It is store.ErrInUse.
	ErrInUse = store.ErrInUse
	// ErrNotFound means an account does not exist, or a peer name is not
	// the account's. It is store.ErrNotFound.
	ErrNotFound = store.ErrNotFound
	// ErrAlreadyExists means an account name is taken, or another account
	// owns a peer name. It is store.ErrAlreadyExists.
	ErrAlreadyExists = store.ErrAlreadyExists
	// ErrNotOwner means a caller asked for what only the account owning a
	// peer name gets (a status token for that peer).
	ErrNotOwner = errors.New("not the owner of this peer name")
)

// Config configures a Directory. Zero fields take their defaults.
type Config struct {
	// HeartbeatInterval is how often sessions should heartbeat, and how
	// often the reaper runs; DefaultHeartbeatInterval if zero.
	HeartbeatInterval time.Duration
	// SessionTTL is how long a session stays online after its last login
	// or heartbeat; DefaultSessionTTLFactor × HeartbeatInterval if zero.
	SessionTTL time.Duration
	// TokenTTL is how long a session token is valid; DefaultTokenTTL if
	// zero.
	TokenTTL time.Duration
	// TransferTTL is how long a read, download or upload token
	// (IssueToken) is valid; token.TransferTTL if zero. At most
	// token.MaxLifetime, the longest peers accept.
	TransferTTL time.Duration
	// MaxPublishEntries is the most entries in one Publish call;
	// DefaultMaxPublishEntries if zero.
	MaxPublishEntries int
	// MaxPeerFiles is the most files one peer may have published;
	// DefaultMaxPeerFiles if zero.
	MaxPeerFiles int
	// MaxAccountFiles is the most files the live peers of one account may
	// have published together; DefaultMaxAccountFiles if zero.
	MaxAccountFiles int
	// MaxAccountSessions is the most live sessions one account may have;
	// DefaultMaxAccountSessions if zero.
	MaxAccountSessions int
	// RefreshTTL is how long a refresh token (Login with Refresh) is
	// accepted; DefaultRefreshTTL if zero.
	RefreshTTL time.Duration
	// Issuer is the "iss" claim of tokens; token.DefaultIssuer if empty.
	Issuer string
	// AccountsFile is an htpasswd file of read-only accounts (bcrypt hashes
	// only), consulted before the store; none if empty.
	AccountsFile string
	// PasswordCost is the bcrypt cost of hashes AddUser creates, and of the
	// dummy hash that unknown usernames are compared with;
	// DefaultPasswordCost if zero. Tests lower it to bcrypt.MinCost.
	PasswordCost int
	// Now is the clock; time.Now if nil. Tests inject one to expire
	// sessions without sleeping.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx's error then: how
	// a throttled login waits. A timer if nil; tests inject one that
	// advances their clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// DialBack configures the check of peers' advertise addresses
	// (reachability.go).
	DialBack DialBack
	// MaxAccountWatches is the most live searches (Watch) one account may
	// have open at once here; DefaultMaxAccountWatches if zero.
	MaxAccountWatches int
	// WatchPoll is how often live searches search again, for changes
	// made through other replicas and for expiries; DefaultWatchPoll if
	// zero.
	WatchPoll time.Duration
	// WatchKeepalive is how long a live search stays silent before a
	// keepalive event; DefaultWatchKeepalive if zero.
	WatchKeepalive time.Duration
	// Logger receives lifecycle events and reaper results; discarded if nil.
	// Passwords and tokens are never logged.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTLFactor * c.HeartbeatInterval
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.TransferTTL == 0 {
		c.TransferTTL = token.TransferTTL
	}
	if c.MaxPublishEntries == 0 {
		c.MaxPublishEntries = DefaultMaxPublishEntries
	}
	if c.MaxPeerFiles == 0 {
		c.MaxPeerFiles = DefaultMaxPeerFiles
	}
	if c.MaxAccountFiles == 0 {
		c.MaxAccountFiles = DefaultMaxAccountFiles
	}
	if c.MaxAccountSessions == 0 {
		c.MaxAccountSessions = DefaultMaxAccountSessions
	}
	if c.Issuer == "" {
		c.Issuer = token.DefaultIssuer
	}
	if c.PasswordCost == 0 {
		c.PasswordCost = DefaultPasswordCost
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.MaxAccountWatches == 0 {
		c.MaxAccountWatches = DefaultMaxAccountWatches
	}
	if c.WatchPoll == 0 {
		c.WatchPoll = DefaultWatchPoll
	}
	if c.WatchKeepalive == 0 {
		c.WatchKeepalive = DefaultWatchKeepalive
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first setting that cannot work, after defaults are
// applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.HeartbeatInterval < 0:
		return fmt.Errorf("heartbeat interval %s: must be positive", c.HeartbeatInterval)
	case c.SessionTTL < c.HeartbeatInterval:
		return fmt.Errorf("session TTL %s: must be at least the heartbeat interval %s, or every session would expire between heartbeats", c.SessionTTL, c.HeartbeatInterval)
	case c.TokenTTL < c.HeartbeatInterval:
		return fmt.Errorf("token TTL %s: must be at least the heartbeat interval %s, or tokens would expire before their renewal", c.TokenTTL, c.HeartbeatInterval)
	case c.TransferTTL < 0 || c.TransferTTL > token.MaxLifetime:
		return fmt.Errorf("transfer token TTL %s: must be positive and at most %s, the longest lifetime peers accept", c.TransferTTL, token.MaxLifetime)
	case c.RefreshTTL < 0:
		return fmt.Errorf("refresh token TTL %s: must be positive", c.RefreshTTL)
	case c.MaxPublishEntries < 0:
		return fmt.Errorf("max publish entries %d: must be positive", c.MaxPublishEntries)
	case c.MaxPeerFiles < 0:
		return fmt.Errorf("max peer files %d: must be positive", c.MaxPeerFiles)
	case c.MaxAccountFiles < 0:
		return fmt.Errorf("max account files %d: must be positive", c.MaxAccountFiles)
	case c.MaxAccountSessions < 0:
		return fmt.Errorf("max account sessions %d: must be positive", c.MaxAccountSessions)
	case c.MaxAccountWatches < 0:
		return fmt.Errorf("max account watches %d: must be positive", c.MaxAccountWatches)
	case c.WatchPoll < 0 || c.WatchKeepalive < 0:
		return fmt.Errorf("watch poll %s and keepalive %s: must be positive", c.WatchPoll, c.WatchKeepalive)
	case c.MaxPublishEntries > 1<<31-1 || c.MaxPeerFiles > 1<<31-1:
		return errors.New("max publish entries and max peer files must fit in 32 bits (the protocol reports them as int32)")
	case c.PasswordCost < bcrypt.MinCost || c.PasswordCost > bcrypt.MaxCost:
		return fmt.Errorf("password cost %d: must be between %d and %d", c.PasswordCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return nil
}

// Directory implements the directory's operations on top of a store. It is
// safe for concurrent use.
type Directory struct {
	cfg      Config
	store    store.Store
	log      *slog.Logger
	readOnly map[string][]byte // htpasswd accounts: name -> bcrypt hash
	throttle *throttle
	verified *verifiedCache
	issued   *issuedCache
	live     *liveSessions
	revoked  *revocationList
	presence *presence
	counters activity
	reach    *reacher
	watches  *watchHub

	signer   *token.Signer
	verifier *token.Verifier
	keysMu   sync.RWMutex
	keys     []token.PublicKey // every key in the store, newest first

	dummyOnce sync.Once
	dummyHash []byte
}

// New returns a Directory on st. It loads the accounts file, and loads the
// signing keys from st, generating and storing one when there is none, so a
// restart on the same store keeps issued tokens valid.
func New(ctx context.Context, st store.Store, cfg Config) (*Directory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("directory config: %w", err)
	}
	cfg = cfg.withDefaults()
	d := &Directory{
		cfg:      cfg,
		store:    st,
		log:      cfg.Logger,
		throttle: newThrottle(cfg.Now),
		verified: newVerifiedCache(),
		issued:   newIssuedCache(),
		live:     newLiveSessions(),
		revoked:  &revocationList{},
		presence: newPresence(),
		reach:    newReacher(cfg.DialBack, cfg.Now),
	}
	d.watches = newWatchHub(d)
	if cfg.AccountsFile != "" {
		accounts, err := LoadHtpasswd(cfg.AccountsFile)
		if err != nil {
			return nil, err
		}
		d.readOnly = accounts
	}
	if err := d.loadKeys(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Info describes a directory to its clients.
type Info struct {
	// Version is the peerhub version the directory runs.
	Version string
	// HeartbeatInterval is how often a session should heartbeat.
	HeartbeatInterval time.Duration
	// SessionTTL is how long a session stays online after a heartbeat.
	SessionTTL time.Duration
	// Keys verify the tokens the directory issues (algorithm
	// token.Algorithm).
	Keys []token.PublicKey
	// MaxPublishEntries is the most entries one Publish call may carry.
	MaxPublishEntries int
	// MaxPeerFiles is the most files one peer may have published.
	MaxPeerFiles int
	// Issuer is the "iss" claim of the directory's tokens.
	Issuer string
}

// Info describes the directory.
func (d *Directory) Info() Info {
	keys := d.currentKeys()
	return Info{
		Version:           buildinfo.Get().Version,
		HeartbeatInterval: d.cfg.HeartbeatInterval,
		SessionTTL:        d.cfg.SessionTTL,
		Keys:              keys,
		MaxPublishEntries: d.cfg.MaxPublishEntries,
		MaxPeerFiles:      d.cfg.MaxPeerFiles,
		Issuer:            d.cfg.Issuer,
	}
}

// Stats counts the online peers and their files, for metrics.
func (d *Directory) Stats(ctx context.Context) (store.Stats, error) {
	st, err := d.store.Stats(ctx, d.cfg.Now())
	if err != nil {
		return store.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// Run reaps expired sessions (and their files), and forgets revocations
// older than RevocationRetention, every heartbeat interval until ctx is
// done. Expired sessions are already invisible to every query;
// reaping only reclaims their space. It also runs the live searches
// (Watch), which end when ctx is done, and writes the heartbeats answered
// from memory (see presenceLag), once more as ctx ends. It returns nil when
// ctx is done.
func (d *Directory) Run(ctx context.Context) error {
	var watches sync.WaitGroup
	defer watches.Wait()
	watches.Go(func() { d.watches.run(ctx) })
	watches.Go(func() { d.runPresence(ctx) })
	t := time.NewTicker(d.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := d.cfg.Now()
		n, err := d.store.ReapExpired(ctx, now)
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Warn("reaping expired sessions", "error", err)
		case n > 0:
			d.log.Debug("reaped expired sessions", "count", n)
		}
		if _, err := d.forgetRevocations(ctx, now); err != nil && ctx.Err() == nil {
			d.log.Warn("forgetting old revocations", "error", err)
		}
		d.throttle.prune()
		d.verified.prune(now)
		d.issued.prune(now)
		d.live.prune(now)
		d.reach.prune(now)
	}
}

// sleep waits d or until ctx is done (Config.Sleep's default).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
