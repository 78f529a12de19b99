// Package session owns a peer's (or a command-line client's) session with
// the directory: logging in, learning the heartbeat interval and the token
// keys, publishing the shared index (a snapshot, then deltas), heartbeating
// with jitter, logging in again and republishing when the directory forgot
// the session, and backing off while the directory is unreachable.
package session

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/token"
)

// Defaults.
const (
	// DefaultHeartbeat is used until the directory announces its interval.
	DefaultHeartbeat = 10 * time.Second
	// Jitter is the fraction of the interval by which each heartbeat is
	// moved earlier at random, so peers started together spread out.
	Jitter = 0.2
	// MaxBackoff caps the wait between two attempts to reach the directory.
	MaxBackoff = 30 * time.Second
	// CallTimeout bounds one call to the directory.
	CallTimeout = 30 * time.Second
	// LogoutTimeout bounds the logout at shutdown.
	LogoutTimeout = 3 * time.Second
)

// ErrLogin means the directory refused the credentials (wrong password,
// unknown user): retrying will not help.
var ErrLogin = errors.New("login refused")

// Config says how to reach the directory and who to be.
type Config struct {
	// Directory is the directory's base URL, e.g. http://127.0.0.1:8000.
	Directory string
	// Username and Password are the account's credentials.
	Username, Password string
	// RefreshToken, for a client session without a Password, is a refresh
	// token (see Refresh) that Login exchanges for a session instead of
	// checking a password.
	RefreshToken string
	// WantRefresh makes a client's password Login ask for a refresh token
	// too (see IssuedRefresh).
	WantRefresh bool
	// PeerName is how a peer is listed; the username if empty.
	PeerName string
	// Advertise is the URL where this peer serves PeerService; empty for
	// a client session.
	Advertise string
	// HTTPClient is used for every call; if nil, rpcclient.DirectoryClient
	// of Directory (which may carry the directory's pin after "#") and
	// KnownHosts.
	HTTPClient *http.Client
	// KnownHosts remembers the keys of directories trusted on first use;
	// nil: an https:// directory needs a pin in its URL or a certificate
	// from a known authority.
	KnownHosts *rpcclient.KnownHosts
	// Identity is the TLS key pair a peer serves with: a peer login
	// proves it holds the key (identity.SignLoginProof), so that the
	// directory vouches for its pin. Required for a peer serving https://.
	Identity *tls.Certificate
	// Logger receives session events; discarded if nil.
	Logger *slog.Logger
}

// Delta is a change of the shared index to publish.
type Delta struct {
	// Added are new or changed entries.
	Added []*directoryv1.FileEntry
	// Removed are names no longer shared.
	Removed []string
}

// Session is one login at the directory.
type Session struct {
	cfg    Config
	log    *slog.Logger
	tok    rpcclient.Token
	client directoryv1connect.DirectoryServiceClient

	mu         sync.Mutex
	verifier   *token.Verifier // of issuer's tokens
	issuer     string          // the "iss" the directory announced
	interval   time.Duration
	maxPerCall int
	loggedIn   bool
	peerName   string                   // granted by the last login; "" for a client
	sessionID  string                   // of the last login
	reach      directoryv1.Reachability // the directory's dial-back, from the last heartbeat
	refresh    Refresh                  // issued by the last login, if asked (WantRefresh)
	revoked    map[string]time.Time     // sessions whose tokens a peer refuses, and when it learned each
	// revokedAsOf is the directory's revocations_as_of of the list in
	// revoked, sent with the next heartbeat; zero for none.
	revokedAsOf time.Time
	tokens      map[directoryv1.TokenScope]*Tokens
	reads       directoryv1connect.DirectoryServiceClient // see Reads
	access      string                                    // the access point given, if any
	initErr     error                                     // a bad directory URL, returned by Login
}

// New returns a Session that has not logged in yet.
func New(cfg Config) *Session {
	var initErr error
	if cfg.HTTPClient == nil {
		base, hc, err := rpcclient.DirectoryClient(cfg.Directory, cfg.KnownHosts)
		if err != nil {
			initErr, hc = err, rpcclient.NewHTTPClient()
		} else {
			cfg.Directory = base
		}
		cfg.HTTPClient = hc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{cfg: cfg, log: cfg.Logger, interval: DefaultHeartbeat, initErr: initErr}
	s.client = directoryv1connect.NewDirectoryServiceClient(cfg.HTTPClient, cfg.Directory, rpcclient.Options(&s.tok)...)
	s.issuer = token.DefaultIssuer
	s.verifier = s.newVerifier(s.issuer, nil)
	return s
}

// Client is the directory client authenticated as this session.
func (s *Session) Client() directoryv1connect.DirectoryServiceClient { return s.client }

// Token is the session's current bearer token (renewed by heartbeats).
func (s *Session) Token() *rpcclient.Token { return &s.tok }

// SessionID is the id of the last login's session ("" before it): the key
// of the peer's answer to the directory's dial-back (reachproof).
func (s *Session) SessionID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionID
}

// Reachability is what the directory's dial-back found of the peer, as
// its last heartbeat said.
func (s *Session) Reachability() directoryv1.Reachability {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reach
}

// Verifier checks tokens issued by the directory, offline, with the issuer
// and keys from its GetInfo (keys refreshed when an unknown key id
// appears), and refuses any whose lifetime is over token.MaxLifetime. It
// keeps its last keys while the directory is unreachable. Until the first
// Login it expects token.DefaultIssuer; ask again after a Login, which may
// replace it when the directory names another issuer.
func (s *Session) Verifier() *token.Verifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verifier
}

// newVerifier returns a Verifier of issuer's tokens that refreshes its keys
// from the directory.
func (s *Session) newVerifier(issuer string, keys []token.PublicKey) *token.Verifier {
	return token.NewVerifier(issuer, keys, token.WithMaxLifetime(token.MaxLifetime), token.WithKeySource(func(ctx context.Context) ([]token.PublicKey, error) {
		keys, _, err := s.fetchInfo(ctx)
		return keys, err
	}))
}

// Interval is the heartbeat interval the directory announced.
func (s *Session) Interval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interval
}

// fetchInfo asks the directory for its token keys and issuer (the default
// when it names none), and records its heartbeat interval and publish limit.
// Errors: ErrAccessPoint when the URL is a peer's.
func (s *Session) fetchInfo(ctx context.Context) (keys []token.PublicKey, issuer string, err error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	res, err := s.client.GetInfo(ctx, connect.NewRequest(&directoryv1.GetInfoRequest{}))
	if err != nil {
		return nil, "", fmt.Errorf("get directory info: %w", err)
	}
	if d := res.Msg.GetDirectoryUrl(); d != "" {
		return nil, "", &AccessPointError{URL: s.cfg.Directory, Directory: d}
	}
	keys = make([]token.PublicKey, 0, len(res.Msg.GetKeys()))
	for _, k := range res.Msg.GetKeys() {
		keys = append(keys, token.PublicKey{ID: k.GetKeyId(), Key: k.GetPublicKey()})
	}
	s.mu.Lock()
	if d := res.Msg.GetHeartbeatInterval().AsDuration(); d > 0 {
		s.interval = d
	}
	s.maxPerCall = int(res.Msg.GetMaxPublishEntries())
	s.mu.Unlock()
	return keys, cmp.Or(res.Msg.GetTokenIssuer(), token.DefaultIssuer), nil
}

// Login fetches the directory's info and keys, then logs in. A client
// session given a peer's URL (an access point, see AccessPointError) logs in
// at the directory that peer names instead, and sends the peer only read
// tokens (Reads); a peer session refuses to.
// Errors: ErrLogin (wrapping the directory's error) when the credentials are
// refused, or wrapping an *AccessPointError for a peer session given a
// peer's URL; otherwise the transport or directory error.
func (s *Session) Login(ctx context.Context) error {
	if s.initErr != nil {
		return fmt.Errorf("%w: %w", ErrLogin, s.initErr)
	}
	keys, issuer, err := s.fetchInfo(ctx)
	if ap, ok := errors.AsType[*AccessPointError](err); ok {
		if s.cfg.Advertise != "" {
			// Retrying cannot help a peer pointed at another peer.
			return fmt.Errorf("%w: %w", ErrLogin, err)
		}
		keys, issuer, err = s.useAccessPoint(ctx, ap)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	if issuer == s.issuer {
		s.verifier.SetKeys(keys)
	} else {
		s.issuer, s.verifier = issuer, s.newVerifier(issuer, keys)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	if s.cfg.Password == "" && s.cfg.RefreshToken != "" && s.cfg.Advertise == "" {
		return s.loginWithRefresh(ctx)
	}
	proof, err := s.keyProof()
	if err != nil {
		return err
	}
	res, err := s.client.Login(ctx, connect.NewRequest(&directoryv1.LoginRequest{
		Username:         s.cfg.Username,
		Password:         s.cfg.Password,
		AdvertiseAddress: s.cfg.Advertise,
		PeerName:         s.cfg.PeerName,
		Refresh:          s.cfg.WantRefresh && s.cfg.Advertise == "",
		KeyProof:         proof,
	}))
	if err != nil {
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated, connect.CodeInvalidArgument, connect.CodeAlreadyExists, connect.CodePermissionDenied:
			return fmt.Errorf("%w: %w", ErrLogin, err)
		}
		return fmt.Errorf("log in at %s: %w", s.cfg.Directory, err)
	}
	s.mu.Lock()
	s.openedLocked(res.Msg.GetToken(), res.Msg.GetHeartbeatInterval().AsDuration())
	s.peerName = res.Msg.GetPeerName()
	s.sessionID, s.reach = res.Msg.GetSessionId(), directoryv1.Reachability_REACHABILITY_UNSPECIFIED
	s.refresh = Refresh{Token: res.Msg.GetRefreshToken(), ExpiresAt: res.Msg.GetRefreshExpiresAt().AsTime()}
	s.setRevokedLocked(res.Msg.GetRevokedSessionIds(), time.Time{})
	s.mu.Unlock()
	s.log.Log(ctx, s.level(), "logged in", "directory", s.cfg.Directory, "user", s.cfg.Username, "peer", res.Msg.GetPeerName())
	return nil
}

// openedLocked records a session the directory just opened (by password
// or refresh token): its token and, when announced (> 0), its heartbeat
// interval. The caller holds s.mu; the token's own lock is a leaf.
func (s *Session) openedLocked(token string, interval time.Duration) {
	s.tok.Set(token)
	if interval > 0 {
		s.interval = interval
	}
	s.loggedIn = true
}

// level is the log level of session events: a peer's login matters to its
// operator; a command-line client's would only clutter its output.
func (s *Session) level() slog.Level {
	if s.cfg.Advertise != "" {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// Heartbeat renews the session and its token, and (for a peer) learns
// which sessions the directory revoked (Revoked).
func (s *Session) Heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	req := &directoryv1.HeartbeatRequest{}
	s.mu.Lock()
	if !s.revokedAsOf.IsZero() {
		req.RevocationsSince = timestamppb.New(s.revokedAsOf)
	}
	s.mu.Unlock()
	res, err := s.client.Heartbeat(ctx, connect.NewRequest(req))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	s.tok.Set(res.Msg.GetToken())
	s.mu.Lock()
	s.learnRevokedLocked(res.Msg)
	s.reach = res.Msg.GetReachability()
	// The directory may have restarted with another interval: follow it
	// now, or a longer old cadence would outrun its new session TTL.
	if d := res.Msg.GetHeartbeatInterval().AsDuration(); d > 0 && d != s.interval {
		s.log.Log(ctx, s.level(), "heartbeat interval changed", "from", s.interval, "to", d)
		s.interval = d
	}
	s.mu.Unlock()
	return nil
}

// Logout ends the session at the directory (best effort: a session that
// cannot log out expires after its TTL anyway).
func (s *Session) Logout(ctx context.Context) error {
	return s.logout(ctx, "")
}

// logout ends the session, and revokes the refresh token refresh if set.
func (s *Session) logout(ctx context.Context, refresh string) error {
	s.mu.Lock()
	was := s.loggedIn
	s.loggedIn = false
	s.mu.Unlock()
	if !was {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, LogoutTimeout)
	defer cancel()
	if _, err := s.client.Logout(ctx, connect.NewRequest(&directoryv1.LogoutRequest{RefreshToken: refresh})); err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	s.log.Log(ctx, s.level(), "logged out", "directory", s.cfg.Directory)
	return nil
}

// PublishSnapshot replaces the peer's published index with files, split
// into calls of at most the directory's per-call limit (a snapshot call,
// then deltas).
func (s *Session) PublishSnapshot(ctx context.Context, files []*directoryv1.FileEntry) error {
	s.mu.Lock()
	per := s.maxPerCall
	s.mu.Unlock()
	if per <= 0 {
		per = len(files) + 1
	}
	first := files[:min(per, len(files))]
	if err := s.publish(ctx, &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Snapshot{
		Snapshot: &directoryv1.Snapshot{Files: first},
	}}); err != nil {
		return err
	}
	for rest := files[len(first):]; len(rest) > 0; {
		n := min(per, len(rest))
		if err := s.publishDelta(ctx, Delta{Added: rest[:n]}); err != nil {
			return err
		}
		rest = rest[n:]
	}
	s.log.Info("published index", "files", len(files))
	return nil
}

func (s *Session) publishDelta(ctx context.Context, d Delta) error {
	return s.publish(ctx, &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Delta{
		Delta: &directoryv1.Delta{Added: d.Added, Removed: d.Removed},
	}})
}

func (s *Session) publish(ctx context.Context, req *directoryv1.PublishRequest) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	if _, err := s.client.Publish(ctx, connect.NewRequest(req)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// Run keeps a peer session alive until ctx is done: it logs in (retrying
// with exponential backoff and jitter while the directory is unreachable),
// publishes snapshot(), publishes each delta from changes, and heartbeats at
// the announced interval. When the directory no longer knows the session
// (it restarted, or the session expired) it logs in again and republishes a
// full snapshot. On return it has logged out.
// Errors: ErrLogin when the credentials are refused; nil when ctx ends.
func (s *Session) Run(ctx context.Context, snapshot func() []*directoryv1.FileEntry, changes <-chan Delta) error {
	defer func() {
		if err := s.Logout(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("logout", "error", err)
		}
	}()
	for ctx.Err() == nil {
		if err := s.connect(ctx, snapshot); err != nil {
			if errors.Is(err, ErrLogin) {
				return err
			}
			return nil // ctx done
		}
		err := s.serve(ctx, changes)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("session lost; logging in again", "error", err)
		s.mu.Lock()
		s.loggedIn = false
		s.mu.Unlock()
	}
	return nil
}

// connect logs in and publishes a full snapshot, retrying with backoff.
func (s *Session) connect(ctx context.Context, snapshot func() []*directoryv1.FileEntry) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = MaxBackoff
	b.RandomizationFactor = 0.5
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if err := s.Login(ctx); err != nil {
			if errors.Is(err, ErrLogin) {
				return struct{}{}, backoff.Permanent(err)
			}
			return struct{}{}, err
		}
		if err := s.PublishSnapshot(ctx, snapshot()); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, wait time.Duration) {
		s.log.Warn("directory unreachable; retrying", "error", err, "retry_in", wait.Round(time.Millisecond))
	}))
	if err != nil {
		return err
	}
	return nil
}

// serve heartbeats and publishes deltas until the session is lost or ctx
// ends. Transient errors are retried at the next heartbeat; an
// Unauthenticated answer (or NotFound/FailedPrecondition from Publish) means
// the directory forgot the session.
func (s *Session) serve(ctx context.Context, changes <-chan Delta) error {
	timer := time.NewTimer(s.nextBeat())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if err := s.publishDelta(ctx, d); err != nil {
				if lost(err) {
					return err
				}
				// The delta is lost for now; the next snapshot (after a
				// reconnect) or the watcher's next change repairs it.
				s.log.Warn("publish delta; will republish after reconnecting", "error", err)
				return err
			}
		case <-timer.C:
			err := s.Heartbeat(ctx)
			if err != nil && lost(err) {
				return err
			}
			if err != nil {
				s.log.Warn("heartbeat failed; retrying", "error", err)
				timer.Reset(min(s.nextBeat(), 2*time.Second))
				continue
			}
			timer.Reset(s.nextBeat())
		}
	}
}

// lost reports whether err means the directory no longer has this session.
func lost(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated, connect.CodeNotFound, connect.CodeFailedPrecondition:
		return true
	}
	return false
}

// nextBeat is the interval less a random jitter.
func (s *Session) nextBeat() time.Duration {
	iv := s.Interval()
	return iv - time.Duration(rand.Float64()*Jitter*float64(iv))
}

// KeepAlive heartbeats at the announced interval until ctx is done, for a
// client session that lives longer than the session TTL (the menu, long
// downloads). Failed heartbeats are retried sooner; a session the directory
// forgot is logged in again.
func (s *Session) KeepAlive(ctx context.Context) {
	timer := time.NewTimer(s.nextBeat())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := s.Heartbeat(ctx)
		if err != nil && lost(err) && ctx.Err() == nil {
			err = s.Login(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return // stopped while the heartbeat was under way
			}
			s.log.Warn("keeping the session alive", "error", err)
			timer.Reset(min(s.nextBeat(), 2*time.Second))
			continue
		}
		timer.Reset(s.nextBeat())
	}
}
