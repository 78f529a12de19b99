package relayagent

import (
	"net"
	"sync"
)

// relayedListener is the net.Listener the agent's http.Server serves:
// the agent pushes into it each connection the relay paired (already
// past its TLS handshake when the peer serves TLS), so that net/http's
// own server, which only serves connections it accepts, serves them too.
type relayedListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// newRelayedListener returns an open listener.
func newRelayedListener() *relayedListener {
	return &relayedListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server; it reports false (and closes c) once the
// listener is closed.
func (l *relayedListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		c.Close()
		return false
	}
}

// Accept implements net.Listener.
func (l *relayedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; it is idempotent.
func (l *relayedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener: relayed connections have no local
// address of their own.
func (l *relayedListener) Addr() net.Addr { return relayedLocal{} }

// relayedLocal is the listener's address.
type relayedLocal struct{}

// Network implements net.Addr.
func (relayedLocal) Network() string { return "relay" }

// String implements net.Addr.
func (relayedLocal) String() string { return "relay" }
