// Package relayagent keeps a peer reachable through its directory's relay
// (server/relay) when downloaders cannot reach it directly: it holds
// waiting connections open to the relay, and serves each one the relay
// pairs with a downloader as if it had been accepted on the peer's own
// listener, with the peer's handler over HTTP/2 (net/http's own server,
// fed by a listener the agent pushes relayed connections into) and, when
// the peer serves TLS, TLS with the peer's own certificate: the relay
// only sees ciphertext.
package relayagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/http2tuning"
	"github.com/peerhub/peerhub/internal/relaywire"
)

// Modes of Config.Mode (the peer's --relay flag).
const (
	// ModeAuto waits at the relay while the directory's dial-back found
	// the peer unreachable.
	ModeAuto = "auto"
	// ModeAlways waits at the relay whatever the dial-back found.
	ModeAlways = "always"
	// ModeNever never uses the relay.
	ModeNever = "never"
)

// CheckMode reports whether m is a mode.
func CheckMode(m string) error {
	switch m {
	case ModeAuto, ModeAlways, ModeNever:
		return nil
	}
	return fmt.Errorf("relay mode %q: want %s (when the directory cannot reach this peer), %s or %s", m, ModeAuto, ModeAlways, ModeNever)
}

// Defaults and timings of an Agent.
const (
	// DefaultWaiting is how many waiting connections an agent keeps open:
	// one more is opened as soon as one is paired, so two cover a burst.
	DefaultWaiting = 2
	// retryMin and retryMax bound the wait before opening a waiting
	// connection again after a failure.
	retryMin, retryMax = 500 * time.Millisecond, 30 * time.Second
	// pollInterval is how often ModeAuto looks at the dial-back's result.
	pollInterval = time.Second
	// handshakeTimeout bounds a relayed connection's TLS handshake.
	handshakeTimeout = 10 * time.Second
)

// Config configures an Agent.
type Config struct {
	// Directory is the directory's base URL (http:// or https://).
	Directory string
	// Mode is ModeAuto, ModeAlways or ModeNever.
	Mode string
	// Unreachable reports whether the directory found the peer
	// unreachable (ModeAuto waits at the relay only then).
	Unreachable func() bool
	// Token returns the peer's current session token ("" before login).
	Token func() string
	// Handler serves relayed connections: the peer's own HTTP handler.
	Handler http.Handler
	// TLS, if set, is the peer's server TLS configuration: relayed
	// connections are served over TLS with it (ALPN h2). Nil serves h2c.
	TLS *tls.Config
	// DirectoryTLS, if set, is the client TLS configuration towards an
	// https:// directory; rpcclient's defaults otherwise.
	DirectoryTLS *tls.Config
	// Waiting is how many waiting connections to keep; DefaultWaiting if
	// zero.
	Waiting int
	// Logger receives the agent's events.
	Logger *slog.Logger
}

// Agent keeps waiting connections at the relay; see the package comment.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	host string
	dial relaywire.Dialer

	mu     sync.Mutex
	active bool // waiting connections are (being) held
}

// New returns an agent for cfg.
func New(cfg Config) (*Agent, error) {
	if err := CheckMode(cfg.Mode); err != nil {
		return nil, err
	}
	if cfg.Waiting <= 0 {
		cfg.Waiting = DefaultWaiting
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.Directory)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("relay: directory URL %q: want http:// or https://host:port", cfg.Directory)
	}
	return &Agent{cfg: cfg, log: cfg.Logger, host: u.Host, dial: relaywire.DirectoryDialer(u, cfg.DirectoryTLS)}, nil
}

// Active reports whether the agent holds (or is opening) waiting
// connections.
func (a *Agent) Active() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active
}

// Run keeps waiting connections as the mode asks until ctx is done.
func (a *Agent) Run(ctx context.Context) {
	if a.cfg.Mode == ModeNever {
		return
	}
	ln := newRelayedListener()
	srv := a.server(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			a.log.Warn("relay: serving relayed downloaders stopped", "error", err)
		}
	}()
	var wg sync.WaitGroup
	defer func() {
		// The waiting connections first (they push into ln), then the
		// server with its relayed connections.
		wg.Wait()
		ln.Close()
		srv.Close()
		<-served
	}()
	var stop context.CancelFunc
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		want := a.cfg.Mode == ModeAlways || (a.cfg.Unreachable != nil && a.cfg.Unreachable())
		switch {
		case want && stop == nil:
			a.log.Info("relay: waiting for downloaders at the directory's relay", "mode", a.cfg.Mode)
			var wctx context.Context
			wctx, stop = context.WithCancel(ctx)
			for range a.cfg.Waiting {
				wg.Go(func() { a.keep(wctx, ln) })
			}
			a.setActive(true)
		case !want && stop != nil:
			a.log.Info("relay: reachable directly; leaving the relay")
			stop()
			stop = nil
			a.setActive(false)
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			return
		case <-tick.C:
		}
	}
}

// setActive records whether waiting connections are held.
func (a *Agent) setActive(v bool) {
	a.mu.Lock()
	a.active = v
	a.mu.Unlock()
}

// keep holds one waiting connection open at a time until ctx is done:
// when the relay pairs it, it is served and a new one is opened.
func (a *Agent) keep(ctx context.Context, ln *relayedListener) {
	backoff := retryMin
	for ctx.Err() == nil {
		conn, addr, err := a.waitOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Debug("relay: waiting connection failed", "error", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, retryMax)
			continue
		}
		backoff = retryMin
		go a.serve(ctx, ln, conn, addr)
	}
}

// waitOnce opens a waiting connection and waits until the relay pairs it
// with a downloader; it returns the connection and the downloader's
// address.
func (a *Agent) waitOnce(ctx context.Context) (net.Conn, string, error) {
	tok := a.cfg.Token()
	if tok == "" {
		return nil, "", errors.New("not logged in yet")
	}
	conn, err := relaywire.Upgrade(ctx, a.dial, a.host, relaywire.ListenPath, nil, tok)
	if err != nil {
		return nil, "", err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var b [1]byte
	for {
		conn.SetReadDeadline(time.Now().Add(relaywire.KeepaliveTimeout))
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			conn.Close()
			return nil, "", fmt.Errorf("relay: waiting: %w", err)
		}
		switch b[0] {
		case relaywire.FrameKeepalive:
			continue
		case relaywire.FramePaired:
		default:
			conn.Close()
			return nil, "", fmt.Errorf("relay: unknown frame %q", b[0])
		}
		addr, err := relaywire.ReadPairedAddress(conn)
		if err == nil {
			conn.SetWriteDeadline(time.Now().Add(relaywire.AcceptTimeout))
			_, err = conn.Write([]byte{relaywire.FrameAccept})
		}
		if err != nil {
			conn.Close()
			return nil, "", err
		}
		conn.SetDeadline(time.Time{})
		return conn, addr, nil
	}
}

// server is the HTTP/2 server of relayed connections: net/http's, with
// the same frame and window tuning as the peer's own listener, h2 over
// TLS or prior-knowledge h2c, and no HTTP/1 (downloaders speak h2 only).
func (a *Agent) server(ctx context.Context) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           a.cfg.Handler,
		Protocols:         &protocols,
		HTTP2:             http2tuning.Config(),
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// serve hands one relayed connection to the agent's server, after a TLS
// handshake with the peer's certificate when the peer serves TLS.
func (a *Agent) serve(ctx context.Context, ln *relayedListener, conn net.Conn, addr string) {
	var c net.Conn = &relaywire.AddrConn{Conn: conn, Remote: relaywire.RelayedAddr(addr)}
	if a.cfg.TLS != nil {
		cfg := a.cfg.TLS.Clone()
		cfg.NextProtos = []string{"h2"}
		tc := tls.Server(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			a.log.Debug("relay: TLS handshake with a relayed downloader failed", "remote", addr, "error", err)
			conn.Close()
			return
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			a.log.Debug("relay: relayed downloader did not negotiate h2", "remote", addr, "protocol", p)
			conn.Close()
			return
		}
		c = tc
	}
	a.log.Debug("relay: serving a relayed downloader", "remote", addr)
	ln.push(c)
}
