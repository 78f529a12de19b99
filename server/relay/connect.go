package relay

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"

	"github.com/peerhub/peerhub/internal/relaywire"
)

// connect serves ConnectPath: a downloader's session to one peer.
func (r *Relay) connect(w http.ResponseWriter, req *http.Request) {
	raw := bearer(req)
	if raw == "" {
		r.refuse(w, "connect", connect.CodeUnauthenticated, "a relayed connection needs a relay token for the peer (IssueToken, scope relay; Authorization: Bearer)")
		return
	}
	peer := req.URL.Query().Get(relaywire.PeerParam)
	account, err := r.auth.AuthorizeConnect(req.Context(), raw, peer)
	if err != nil {
		r.refuse(w, "connect", r.auth.Code(err), err.Error())
		return
	}
	if err := checkUpgrade(req); err != nil {
		r.refuse(w, "connect", connect.CodeInvalidArgument, err.Error())
		return
	}
	if !r.reserve() {
		r.refuse(w, "connect", connect.CodeResourceExhausted, fmt.Sprintf("the relay runs the most sessions it allows, %d; try again later", r.cfg.MaxSessions))
		return
	}
	reserved := true
	defer func() {
		if reserved {
			r.release(nil)
		}
	}()
	pconn, e, err := r.pair(req.Context(), peer, req.RemoteAddr)
	if err != nil {
		r.refuse(w, "connect", connect.CodeUnavailable, err.Error())
		return
	}
	dconn, err := hijack(w)
	if err != nil {
		pconn.Close()
		r.log.Debug("relay: downloader lost", "peer", peer, "error", err)
		return
	}
	s := &session{r: r, down: dconn, peer: pconn, limit: e.limit}
	r.mu.Lock()
	r.live[s] = struct{}{}
	r.mu.Unlock()
	reserved = false
	r.m.sessions.Inc()
	r.log.Info("relay: session", "peer", peer, "account", account, "remote", req.RemoteAddr)
	s.run()
	r.release(s)
}

// reserve takes one of the MaxSessions session slots, or reports that
// none is free.
func (r *Relay) reserve() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions >= r.cfg.MaxSessions {
		return false
	}
	r.sessions++
	return true
}

// release gives back a session slot, and forgets s if not nil.
func (r *Relay) release(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions--
	if s != nil {
		delete(r.live, s)
	}
}

// pair takes a waiting connection of peer, current and accepted by the
// peer, waiting up to PairTimeout for one; addr is the downloader's.
func (r *Relay) pair(ctx context.Context, peer, addr string) (net.Conn, *peerEntry, error) {
	r.mu.Lock()
	e := r.entry(peer)
	r.mu.Unlock()
	timer := time.NewTimer(r.cfg.PairTimeout)
	defer timer.Stop()
	for {
		var wt *waiter
		select {
		case wt = <-e.waiting:
		case <-timer.C:
			return nil, nil, fmt.Errorf("peer %s keeps no connection to this relay (offline, not started with --relay, or busy): try again later", peer)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-r.closed:
			return nil, nil, fmt.Errorf("the relay is stopping")
		}
		r.mu.Lock()
		stale := wt.session != e.session
		r.mu.Unlock()
		p := pairing{addr: addr, result: make(chan error, 1)}
		if stale {
			continue // its goroutine closes it at its next keepalive or never pairs
		}
		select {
		case wt.pair <- p:
		case <-wt.done:
			continue
		}
		if err := <-p.result; err != nil {
			r.log.Debug("relay: waiting connection failed", "peer", peer, "error", err)
			continue
		}
		return wt.conn, e, nil
	}
}

// session is one spliced pair of connections.
type session struct {
	r          *Relay
	down, peer net.Conn
	limit      *rate.Limiter // the peer's; nil without a cap

	last    atomic.Int64 // unix nanoseconds of the last byte moved
	cutOnce sync.Once
}

// run splices the two connections until one side ends, or the session
// moves nothing for IdleTimeout.
func (s *session) run() {
	s.last.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.watch(ctx)
	var wg sync.WaitGroup
	// Either side's end (or a cut) closes both, which ends the other copy.
	wg.Go(func() { s.copy(ctx, s.peer, s.down, false); s.cut() })
	wg.Go(func() { s.copy(ctx, s.down, s.peer, true); s.cut() })
	wg.Wait()
}

// cut closes both connections, once.
func (s *session) cut() {
	s.cutOnce.Do(func() {
		s.down.Close()
		s.peer.Close()
	})
}

// watch cuts the session once it has moved no byte for IdleTimeout.
func (s *session) watch(ctx context.Context) {
	idle := s.r.cfg.IdleTimeout
	tick := time.NewTicker(max(idle/8, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Sub(time.Unix(0, s.last.Load())) >= idle {
				s.r.m.stalls.Inc()
				s.r.log.Info("relay: session moved nothing; cut", "idle", idle)
				s.cut()
				return
			}
		}
	}
}

// copy moves bytes from src to dst within the rate caps until either
// fails; fromPeer says which way they flow.
func (s *session) copy(ctx context.Context, dst, src net.Conn, fromPeer bool) {
	dir := "to_peer"
	if fromPeer {
		dir = "from_peer"
	}
	bytes := s.r.m.bytes.WithLabelValues(dir)
	buf := make([]byte, copyBuffer)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			s.last.Store(time.Now().UnixNano())
			if werr := s.wait(ctx, n); werr != nil {
				return
			}
			if tap := s.r.cfg.Tap; tap != nil {
				tap(fromPeer, buf[:n])
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			s.last.Store(time.Now().UnixNano())
			bytes.Add(float64(n))
		}
		if err != nil {
			if err != io.EOF {
				s.r.log.Debug("relay: session ended", "error", err)
			}
			return
		}
	}
}

// wait holds n bytes back until the peer's and the relay's rate caps let
// them through. Time spent here counts as activity: a capped session is
// slow, not stalled.
func (s *session) wait(ctx context.Context, n int) error {
	for _, l := range []*rate.Limiter{s.limit, s.r.total} {
		if l == nil {
			continue
		}
		if err := l.WaitN(ctx, n); err != nil {
			return err
		}
	}
	s.last.Store(time.Now().UnixNano())
	return nil
}
