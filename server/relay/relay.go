// Package relay is the directory's relay: it pairs a downloader that
// cannot reach a peer with one of the connections that peer keeps open to
// the relay, and splices the two. It reads no byte of what it splices:
// downloader and peer run TLS end to end over it, authenticated by the
// peer's pinned identity, so the relay holds no key that could decrypt
// the session. The wire is package relaywire's (an HTTP/1.1 Upgrade on
// the directory's port).
//
// Every session is authorised by a relay token the directory issued for
// that one peer, checked from the request's headers before anything else;
// a peer waits under the name its session token carries, which the
// directory binds to the account that owns it, so no one can wait in
// another peer's place. Sessions are capped in number, their bytes in
// rate (per peer and in total), and a session that moves no byte for
// Config.IdleTimeout is cut.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/peerhub/peerhub/internal/relaywire"
)

// Defaults of Config.
const (
	// DefaultMaxSessions is how many relayed sessions may run at once.
	DefaultMaxSessions = 256
	// DefaultMaxWaitingPerPeer is how many waiting connections one peer
	// may hold.
	DefaultMaxWaitingPerPeer = 4
	// DefaultIdleTimeout cuts a session that moved no byte for this long.
	// Longer than the HTTP/2 pings of both ends (30 s), so only a dead or
	// stalled session is cut.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultPairTimeout is how long a downloader waits for the peer to
	// offer a waiting connection.
	DefaultPairTimeout = 10 * time.Second
	// copyBuffer is the size of each direction's copy buffer, in bytes,
	// and the rate limiters' burst.
	copyBuffer = 64 << 10
)

// Config configures a Relay. Zero fields take their defaults.
type Config struct {
	// MaxRate caps each peer's relayed bytes (both directions, all its
	// sessions together), in bytes per second; no cap if zero.
	MaxRate int64
	// MaxTotalRate caps all relayed bytes together, in bytes per second;
	// no cap if zero.
	MaxTotalRate int64
	// MaxSessions is how many sessions may run at once;
	// DefaultMaxSessions if zero. Beyond it a connect is refused with
	// ResourceExhausted.
	MaxSessions int
	// MaxWaitingPerPeer is how many waiting connections one peer may hold;
	// DefaultMaxWaitingPerPeer if zero.
	MaxWaitingPerPeer int
	// IdleTimeout cuts a session that moved no byte in either direction
	// for this long; DefaultIdleTimeout if zero.
	IdleTimeout time.Duration
	// PairTimeout is how long a connect waits for a waiting connection of
	// the peer; DefaultPairTimeout if zero.
	PairTimeout time.Duration
	// Tap, if set, sees every byte the relay splices (tests: to show
	// that it is ciphertext). It must not keep p.
	Tap func(fromPeer bool, p []byte)
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxRate < 0:
		return fmt.Errorf("relay max rate %d: must be 0 (no cap) or positive", c.MaxRate)
	case c.MaxTotalRate < 0:
		return fmt.Errorf("relay max total rate %d: must be 0 (no cap) or positive", c.MaxTotalRate)
	case c.MaxSessions < 0:
		return fmt.Errorf("relay max sessions %d: must be positive", c.MaxSessions)
	case c.IdleTimeout < 0:
		return fmt.Errorf("relay idle timeout %s: must be positive", c.IdleTimeout)
	}
	return nil
}

// Authorizer is what the relay asks the directory about tokens.
type Authorizer interface {
	// AuthenticateWaiter checks the session token of a peer that offers a
	// waiting connection, and returns its peer name and session id.
	// Errors wrap the directory's sentinel errors (Code maps them).
	AuthenticateWaiter(ctx context.Context, raw string) (peer, sessionID string, err error)
	// AuthorizeConnect checks a relay token for peer and returns the
	// account it was issued to.
	AuthorizeConnect(ctx context.Context, raw, peer string) (account string, err error)
	// Code is the Connect code of an error of the two methods above.
	Code(err error) connect.Code
}

// Relay pairs and splices; see the package comment. Create it with New;
// Handler serves both of its paths.
type Relay struct {
	cfg   Config
	auth  Authorizer
	log   *slog.Logger
	total *rate.Limiter // nil without a cap

	mu       sync.Mutex
	peers    map[string]*peerEntry
	sessions int
	live     map[*session]struct{}

	closed    chan struct{} // closed by Close
	closeOnce sync.Once

	m metrics
}

// peerEntry is one peer name's waiting connections and rate limiter.
type peerEntry struct {
	session string        // the session the latest waiter came from
	waiting chan *waiter  // idle connections, oldest first
	limit   *rate.Limiter // nil without a cap
}

// New returns a relay that asks auth about tokens and registers its
// metrics in reg.
func New(cfg Config, auth Authorizer, reg prometheus.Registerer, log *slog.Logger) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.MaxSessions = max(cfg.MaxSessions, 0)
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxWaitingPerPeer <= 0 {
		cfg.MaxWaitingPerPeer = DefaultMaxWaitingPerPeer
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PairTimeout == 0 {
		cfg.PairTimeout = DefaultPairTimeout
	}
	r := &Relay{cfg: cfg, auth: auth, log: log, peers: map[string]*peerEntry{},
		live: map[*session]struct{}{}, closed: make(chan struct{})}
	if cfg.MaxTotalRate > 0 {
		r.total = rate.NewLimiter(rate.Limit(cfg.MaxTotalRate), copyBuffer)
	}
	r.m = newMetrics(r)
	if reg != nil {
		if err := r.m.register(reg); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Mount serves the relay's two paths on mux.
func (r *Relay) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+relaywire.ListenPath, r.listen)
	mux.HandleFunc("GET "+relaywire.ConnectPath, r.connect)
}

// Close drops every waiting connection and ends every session: the
// directory calls it when it stops, as its HTTP server's shutdown does not
// reach connections taken over by an upgrade.
func (r *Relay) Close() {
	r.closeOnce.Do(func() { close(r.closed) })
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.live {
		s.cut()
	}
}

// Relayed reports whether peer has a waiting connection now.
func (r *Relay) Relayed(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.peers[peer]
	return e != nil && len(e.waiting) > 0
}

// bearer is the request's bearer token, "" if none.
func bearer(req *http.Request) string {
	const prefix = "Bearer "
	h := req.Header.Get("Authorization")
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}

// checkUpgrade refuses a request that is not a relay upgrade.
func checkUpgrade(req *http.Request) error {
	if req.ProtoMajor != 1 || req.Header.Get("Upgrade") != relaywire.Protocol {
		return fmt.Errorf("the relay takes an HTTP/1.1 request with Upgrade: %s", relaywire.Protocol)
	}
	return nil
}

// entry returns the entry of peer, creating it.
func (r *Relay) entry(peer string) *peerEntry {
	e := r.peers[peer]
	if e == nil {
		e = &peerEntry{waiting: make(chan *waiter, r.cfg.MaxWaitingPerPeer)}
		if r.cfg.MaxRate > 0 {
			e.limit = rate.NewLimiter(rate.Limit(r.cfg.MaxRate), copyBuffer)
		}
		r.peers[peer] = e
	}
	return e
}

// refuse answers req with code and msg, and counts it.
func (r *Relay) refuse(w http.ResponseWriter, kind string, code connect.Code, msg string) {
	r.m.refused.WithLabelValues(kind, code.String()).Inc()
	relaywire.WriteError(w, code, msg)
}

// hijack takes the connection of w over and writes the 101 answer.
func hijack(w http.ResponseWriter) (net.Conn, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("relay: take the connection over: %w", err)
	}
	if brw.Reader.Buffered() > 0 {
		// A client that sent bytes before the 101: nothing of the wire
		// allows it.
		conn.Close()
		return nil, errors.New("relay: bytes before the upgrade's answer")
	}
	conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + relaywire.Protocol + "\r\n\r\n")); err != nil {
		conn.Close()
		return nil, fmt.Errorf("relay: answer: %w", err)
	}
	return conn, nil
}
