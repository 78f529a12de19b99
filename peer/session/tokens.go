package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/token"
)

// AccessPointError means the URL given as the directory's answers as a
// peer that forwards read-only calls to its directory (GetInfo's
// directory_url): passwords and session tokens belong at Directory, never
// at a peer.
type AccessPointError struct {
	// URL is the peer's URL, as given.
	URL string
	// Directory is the URL of the directory the peer forwards to.
	Directory string
}

func (e *AccessPointError) Error() string {
	return fmt.Sprintf("%s is a peer, not the directory; its directory is %s: give --directory %s", e.URL, e.Directory, e.Directory)
}

// useAccessPoint makes a client session whose URL is a peer's log in at the
// directory the peer names, and send the peer (its reads, see Reads) only
// read tokens. It returns the real directory's keys and issuer.
//
// The peer names the directory, so a lying peer can name another server:
// the user who gave the peer's URL trusts the peer that far. The redirect is
// logged with both URLs.
func (s *Session) useAccessPoint(ctx context.Context, ap *AccessPointError) ([]token.PublicKey, string, error) {
	s.log.Warn("the given URL is a peer (an access point): logging in at the directory it names, and sending the peer read tokens only",
		"peer", ap.URL, "directory", ap.Directory)
	s.access = ap.URL
	// The directory is another server: its own TLS trust (the pin the
	// peer gave in its URL, a certificate authority, or known hosts).
	base, hc, err := rpcclient.DirectoryClient(ap.Directory, s.cfg.KnownHosts)
	if err != nil {
		return nil, "", fmt.Errorf("%s names %q as its directory: %w", ap.URL, ap.Directory, err)
	}
	peerHTTP := s.cfg.HTTPClient
	s.cfg.Directory = base
	s.client = directoryv1connect.NewDirectoryServiceClient(hc, base, rpcclient.Options(&s.tok)...)
	s.reads = directoryv1connect.NewDirectoryServiceClient(peerHTTP, ap.URL,
		connect.WithInterceptors(&readAuth{tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_READ)}),
		connect.WithReadMaxBytes(16<<20))
	keys, issuer, err := s.fetchInfo(ctx)
	if errors.As(err, new(*AccessPointError)) {
		return nil, "", fmt.Errorf("%s names %s as its directory, which is a peer too: %w", ap.URL, ap.Directory, err)
	}
	return keys, issuer, err
}

// Directory is the URL of the directory the session logged in at (the
// one an access point named, when given a peer's URL): where its relay is.
func (s *Session) Directory() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Directory
}

// DirectoryTLS returns the directory's base URL and the TLS client
// configuration that trusts it as the session's API calls do (nil for
// http://), for connections beside the API such as the relay's.
func (s *Session) DirectoryTLS() (string, *tls.Config, error) {
	return rpcclient.DirectoryTLSFor(s.Directory(), s.cfg.KnownHosts)
}

// Reads is the client for the directory's read-only calls (Search,
// ListPeers, ListFiles): the directory itself, with the session token; or,
// when the session was given a peer's URL, that peer, with read tokens
// only.
func (s *Session) Reads() directoryv1connect.DirectoryServiceClient {
	if s.reads != nil {
		return s.reads
	}
	return s.client
}

// PeerName is the name the directory granted this peer session at its last
// login: the audience of the transfer tokens it accepts. Empty before a
// login, and for a client session.
func (s *Session) PeerName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerName
}

// Issuer is the "iss" claim of the directory's tokens, and the audience of
// its read tokens.
func (s *Session) Issuer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issuer
}

// Revoked reports whether the directory announced (at the last login or
// heartbeat of this peer session) that session sid ended: its tokens must
// be refused.
func (s *Session) Revoked(sid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[sid]
	return ok
}

// setRevokedLocked replaces the revoked sessions with ids, the whole list
// as of asOf (zero: unknown, so the next heartbeat asks for the whole list
// again). The caller holds mu.
func (s *Session) setRevokedLocked(ids []string, asOf time.Time) {
	now := time.Now()
	m := make(map[string]time.Time, len(ids))
	for _, id := range ids {
		m[id] = now
	}
	s.revoked, s.revokedAsOf = m, asOf
}

// learnRevokedLocked applies a heartbeat's revocations: added to those
// known when the directory sent only those since the last list
// (revocations_incremental), else replacing them. A revocation learned
// more than token.RevocationRetention ago is forgotten: no token of its
// session can be alive any more. The caller holds mu.
func (s *Session) learnRevokedLocked(res *directoryv1.HeartbeatResponse) {
	var asOf time.Time
	if ts := res.GetRevocationsAsOf(); ts.IsValid() {
		asOf = ts.AsTime()
	}
	if !res.GetRevocationsIncremental() || s.revoked == nil {
		s.setRevokedLocked(res.GetRevokedSessionIds(), asOf)
		return
	}
	now := time.Now()
	for id, learned := range s.revoked {
		if now.Sub(learned) > token.RevocationRetention {
			delete(s.revoked, id)
		}
	}
	for _, id := range res.GetRevokedSessionIds() {
		if _, ok := s.revoked[id]; !ok {
			s.revoked[id] = now
		}
	}
	s.revokedAsOf = asOf
}

// Tokens returns the session's cache of tokens of scope (see Tokens).
func (s *Session) Tokens(scope directoryv1.TokenScope) *Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = make(map[directoryv1.TokenScope]*Tokens)
	}
	t, ok := s.tokens[scope]
	if !ok {
		t = &Tokens{s: s, scope: scope, m: make(map[string]issuedToken), issuing: make(map[string]*issuing)}
		s.tokens[scope] = t
	}
	return t
}

// Tokens hands out the directory's short-lived tokens (IssueToken) of one
// scope, one per peer (none for read tokens), so that the session token
// never has to leave the link with the directory. A token is reused until
// a quarter of its life is left, then a new one is asked for; one a peer
// refused (Refused) is asked for again at once. Callers that want a token
// for the same peer while one is being asked for wait for that one, so a
// token asked for ahead (get asks while it prepares the output file) is
// not asked for twice. Safe for concurrent use.
type Tokens struct {
	s     *Session
	scope directoryv1.TokenScope

	mu      sync.Mutex
	m       map[string]issuedToken // by peer name
	issuing map[string]*issuing    // IssueToken calls under way, by peer name
}

// issuing is one IssueToken call under way; done is closed once it and err
// are set.
type issuing struct {
	done chan struct{}
	it   issuedToken
	err  error
}

// issuedToken is one cached token and when to stop using it.
type issuedToken struct {
	raw     string
	renewAt time.Time
}

// Token returns a token of the cache's scope for peer ("" for a read
// token), asking the directory for one when it has none fresh enough.
// Errors: the directory's (e.g. NotFound when peer is not online).
func (t *Tokens) Token(ctx context.Context, peer string) (string, error) {
	for {
		now := time.Now()
		t.mu.Lock()
		it, ok := t.m[peer]
		if ok && now.Before(it.renewAt) {
			t.mu.Unlock()
			return it.raw, nil
		}
		if c := t.issuing[peer]; c != nil {
			t.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if c.err == nil {
				return c.it.raw, nil
			}
			// That call failed, perhaps only because its caller gave up:
			// ask again, for this caller.
			continue
		}
		c := &issuing{done: make(chan struct{})}
		t.issuing[peer] = c
		t.mu.Unlock()
		c.it, c.err = t.issue(ctx, peer, now)
		t.mu.Lock()
		delete(t.issuing, peer)
		if c.err == nil {
			t.m[peer] = c.it
		}
		t.mu.Unlock()
		close(c.done)
		return c.it.raw, c.err
	}
}

// issue asks the directory for a token for peer; now is when it was needed.
func (t *Tokens) issue(ctx context.Context, peer string, now time.Time) (issuedToken, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	res, err := t.s.client.IssueToken(ctx, connect.NewRequest(&directoryv1.IssueTokenRequest{Scope: t.scope, Peer: peer}))
	if err != nil {
		what := "a read token"
		if peer != "" {
			what = "a token for " + peer
		}
		return issuedToken{}, fmt.Errorf("ask the directory for %s: %w", what, err)
	}
	// The expiry is by the directory's clock; a quarter of the life as a
	// margin absorbs a skew of that much.
	life := res.Msg.GetExpiresAt().AsTime().Sub(now)
	return issuedToken{raw: res.Msg.GetToken(), renewAt: now.Add(life - life/4)}, nil
}

// Refused forgets raw, the token for peer, after peer refused it
// (Unauthenticated), so the next Token asks for a new one.
func (t *Tokens) Refused(peer, raw string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[peer].raw == raw {
		delete(t.m, peer)
	}
}

// readAuth sends a read token with each read-only call to an access point,
// and tries once more with a new token when the first is refused.
type readAuth struct{ tokens *Tokens }

// WrapUnary implements connect.Interceptor.
func (a *readAuth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			return next(ctx, req)
		}
		for attempt := 0; ; attempt++ {
			raw, err := a.tokens.Token(ctx, "")
			if err != nil {
				return nil, err
			}
			req.Header().Set("Authorization", "Bearer "+raw)
			res, err := next(ctx, req)
			if connect.CodeOf(err) != connect.CodeUnauthenticated || attempt > 0 {
				return res, err
			}
			a.tokens.Refused("", raw)
		}
	}
}

// WrapStreamingClient implements connect.Interceptor: a stream (a live
// search) carries a read token too, checked once when it opens.
func (a *readAuth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		raw, err := a.tokens.Token(ctx, "")
		if err != nil {
			return failedStream{conn, err}
		}
		conn.RequestHeader().Set("Authorization", "Bearer "+raw)
		return conn
	}
}

// failedStream is a stream that could not get its read token: it sends
// and receives nothing but that error.
type failedStream struct {
	connect.StreamingClientConn
	err error
}

func (f failedStream) Send(any) error    { return f.err }
func (f failedStream) Receive(any) error { return f.err }

// WrapStreamingHandler implements connect.Interceptor.
func (a *readAuth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
