package relay

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/relaywire"
)

// waiter is one waiting connection of a peer, owned by the goroutine of
// the listen request that opened it until a connect takes it.
type waiter struct {
	conn    net.Conn
	session string
	pair    chan pairing  // a connect offers a downloader here
	done    chan struct{} // closed when the waiter is gone
}

// pairing is a connect's offer to a waiter: the downloader's address, and
// where the waiter says whether the peer accepted.
type pairing struct {
	addr   string
	result chan error
}

// listen serves ListenPath: a peer's waiting connection, under the peer
// name of its session token.
func (r *Relay) listen(w http.ResponseWriter, req *http.Request) {
	raw := bearer(req)
	if raw == "" {
		r.refuse(w, "listen", connect.CodeUnauthenticated, "a waiting connection needs the peer's session token (Authorization: Bearer)")
		return
	}
	peer, sid, err := r.auth.AuthenticateWaiter(req.Context(), raw)
	if err != nil {
		r.refuse(w, "listen", r.auth.Code(err), err.Error())
		return
	}
	if err := checkUpgrade(req); err != nil {
		r.refuse(w, "listen", connect.CodeInvalidArgument, err.Error())
		return
	}
	wt := &waiter{session: sid, pair: make(chan pairing), done: make(chan struct{})}
	defer close(wt.done)
	r.mu.Lock()
	e := r.entry(peer)
	if e.session != sid {
		// A new login of the peer: the waiters of its old session are
		// skipped from now on (connect closes them).
		e.session = sid
	}
	select {
	case e.waiting <- wt:
	default:
		r.mu.Unlock()
		r.refuse(w, "listen", connect.CodeResourceExhausted, fmt.Sprintf("peer %s holds the most waiting connections allowed, %d", peer, r.cfg.MaxWaitingPerPeer))
		return
	}
	r.mu.Unlock()
	conn, err := hijack(w)
	if err != nil {
		r.log.Debug("relay: waiting connection lost", "peer", peer, "error", err)
		return
	}
	wt.conn = conn
	r.log.Debug("relay: peer waits", "peer", peer, "remote", req.RemoteAddr)
	if !r.wait(wt) {
		conn.Close()
	}
}

// wait keeps wt alive with keepalives until a connect pairs it (true: the
// connection is the connect's now) or it fails, or the relay closes.
func (r *Relay) wait(wt *waiter) bool {
	tick := time.NewTicker(relaywire.KeepaliveInterval)
	defer tick.Stop()
	for {
		select {
		case p := <-wt.pair:
			err := accept(wt.conn, p.addr)
			p.result <- err
			return err == nil
		case <-tick.C:
			wt.conn.SetWriteDeadline(time.Now().Add(relaywire.AcceptTimeout))
			if _, err := wt.conn.Write([]byte{relaywire.FrameKeepalive}); err != nil {
				return false
			}
			wt.conn.SetWriteDeadline(time.Time{})
		case <-r.closed:
			return false
		}
	}
}

// accept tells the peer of a downloader at addr and waits for its
// FrameAccept.
func accept(conn net.Conn, addr string) error {
	conn.SetDeadline(time.Now().Add(relaywire.AcceptTimeout))
	defer conn.SetDeadline(time.Time{})
	if err := relaywire.WritePaired(conn, addr); err != nil {
		return fmt.Errorf("relay: offer to the peer: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("relay: the peer's answer: %w", err)
	}
	if b[0] != relaywire.FrameAccept {
		return fmt.Errorf("relay: the peer answered %q, not accept", b[0])
	}
	return nil
}
