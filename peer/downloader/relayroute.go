package downloader

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/http2tuning"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/relaywire"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// DirectDialTimeout bounds the direct dial to a source before the relay
// is tried: long enough for a far peer, short next to a download.
const DirectDialTimeout = 5 * time.Second

// A routed connection that has received nothing for relayPingInterval is
// pinged, and closed if the ping goes unanswered for relayPingTimeout: a
// relayed source can vanish without a TCP reset reaching us.
const (
	relayPingInterval = 30 * time.Second
	relayPingTimeout  = 15 * time.Second
)

// Router gives the HTTP client that reaches one source: direct, or through
// the directory's relay. Options.Routes takes one.
type Router interface {
	// Client returns the client for calls to s.
	Client(s Source) *http.Client
}

// clientFor is the client for calls to source s: Options.Routes', else
// the one of its pin (rpcclient.PeerClients). Either way an https://
// source needs the pin the directory vouched for (rpcclient.RequirePin).
func (e *engine) clientFor(s Source) (*http.Client, error) {
	if e.o.Routes == nil {
		return e.peers.For(s.Address, s.Pin)
	}
	if err := rpcclient.RequirePin(s.Address, s.Pin); err != nil {
		return nil, err
	}
	return e.o.Routes.Client(s), nil
}

// Relay routes calls to each source directly when it can, and through
// the directory's relay (server/relay, wire of internal/relaywire) when
// the directory lists the source as relayed or the direct dial fails.
// The choice is made per connection, below HTTP: each source has an
// HTTP/2-only net/http transport whose dial returns either a direct
// connection or a relayed one; TLS to the peer, when its address
// is https://, runs over either, end to end, so the relay sees only
// ciphertext. Safe for concurrent use; Close when done.
type Relay struct {
	// Directory is the directory's base URL, where its relay is.
	Directory string
	// DirectoryTLS, if set, is the TLS configuration towards an https://
	// directory.
	DirectoryTLS *tls.Config
	// Tokens gives relay tokens (session.Tokens of RELAY scope), one per
	// peer.
	Tokens TokenSource
	// PeerTLS, if set, returns the TLS configuration for an https://
	// source; if nil, the source's pinned identity
	// (identity.ClientConfig(Source.Pin)) is the only one accepted.
	PeerTLS func(Source) *tls.Config

	once    sync.Once
	dial    relaywire.Dialer
	host    string
	initErr error

	mu      sync.Mutex
	clients map[string]*routed
}

// routed is one source's client and what it learned.
type routed struct {
	client *http.Client
	t      *http.Transport
	mu     sync.Mutex
	relay  bool // use the relay from now on
}

// init parses the directory's URL, once.
func (r *Relay) init() error {
	r.once.Do(func() {
		u, err := url.Parse(r.Directory)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.initErr = fmt.Errorf("relay: directory URL %q: want http:// or https://host:port", r.Directory)
			return
		}
		r.host = u.Host
		r.dial = relaywire.DirectoryDialer(u, r.DirectoryTLS)
		r.clients = map[string]*routed{}
	})
	return r.initErr
}

// Client implements Router.
func (r *Relay) Client(s Source) *http.Client {
	if err := r.init(); err != nil {
		return &http.Client{Transport: failing{err}}
	}
	// The pin is part of the key: a connection verified for one identity
	// is never reused for another claiming the same peer and address.
	key := s.Peer + "\x00" + s.Address + "\x00" + string(s.Pin)
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clients[key]; c != nil {
		return c.client
	}
	c := &routed{relay: s.Relayed}
	// HTTP/2 only: h2 over the TLS connection dialSource returned (past
	// its handshake, ALPN h2) for https://, prior-knowledge h2c for
	// http://; the same frames and windows as every other peerhub client.
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	h2 := http2tuning.Config()
	h2.SendPingTimeout = relayPingInterval
	h2.PingTimeout = relayPingTimeout
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		return r.dialSource(ctx, s, addr, c)
	}
	c.t = &http.Transport{
		Protocols:      &protocols,
		HTTP2:          h2,
		DialContext:    dial,
		DialTLSContext: dial,
	}
	c.client = &http.Client{Transport: c.t}
	r.clients[key] = c
	return c.client
}

// Close closes the idle connections of every source.
func (r *Relay) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clients {
		c.t.CloseIdleConnections()
	}
}

// dialSource connects to source s at addr (host:port): directly unless
// it is known to need the relay, else (or when the direct dial fails)
// through the relay; then TLS with the source's identity for https://.
func (r *Relay) dialSource(ctx context.Context, s Source, addr string, c *routed) (net.Conn, error) {
	// Refused before anything is dialled: without the pin (or PeerTLS)
	// an https:// source cannot be told from a man in the middle.
	if r.PeerTLS == nil {
		if err := rpcclient.RequirePin(s.Address, s.Pin); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	useRelay := c.relay
	c.mu.Unlock()
	var conn net.Conn
	var directErr error
	if !useRelay {
		dctx, cancel := context.WithTimeout(ctx, DirectDialTimeout)
		conn, directErr = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(dctx, "tcp", addr)
		cancel()
		if directErr != nil && ctx.Err() == nil {
			c.mu.Lock()
			c.relay = true
			c.mu.Unlock()
		}
	}
	if conn == nil {
		var err error
		if conn, err = r.viaRelay(ctx, s.Peer); err != nil {
			return nil, errors.Join(directErr, err)
		}
	}
	u, err := url.Parse(s.Address)
	if err != nil || u.Scheme != "https" {
		return conn, nil
	}
	cfg := identity.ClientConfig(s.Pin)
	if r.PeerTLS != nil {
		cfg = r.PeerTLS(s).Clone()
	}
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS with %s: %w", s, err)
	}
	return tc, nil
}

// viaRelay opens a relayed connection to peer.
func (r *Relay) viaRelay(ctx context.Context, peer string) (net.Conn, error) {
	if r.Tokens == nil {
		return nil, errors.New("relay: no relay tokens")
	}
	tok, err := r.Tokens.Token(ctx, peer)
	if err != nil {
		return nil, fmt.Errorf("relay token for %s: %w", peer, err)
	}
	conn, err := relaywire.Upgrade(ctx, r.dial, r.host, relaywire.ConnectPath, url.Values{relaywire.PeerParam: {peer}}, tok)
	if err != nil {
		return nil, fmt.Errorf("through the relay to %s: %w", peer, err)
	}
	return conn, nil
}

// failing is a transport that fails every call with err.
type failing struct{ err error }

// RoundTrip implements http.RoundTripper.
func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }
