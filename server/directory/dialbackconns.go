package directory

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// dialBackConns opens the connections of one dial-back and closes every
// one of them when the check ends. net/http's Transport closes a
// cancelled request's connection from its own goroutine, and may finish a
// dial after the request gave up; the concurrency cap counts connections
// at the target, so a check frees its slot only after closeAll, when
// nothing it opened is still open or opening.
type dialBackConns struct {
	target netip.AddrPort
	ctx    context.Context // ends the dials in progress at closeAll
	stop   context.CancelFunc

	dialing sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
	closed  bool
}

// newDialBackConns returns a dialer of target whose dials end with ctx or
// at closeAll.
func newDialBackConns(ctx context.Context, target netip.AddrPort) *dialBackConns {
	ctx, stop := context.WithCancel(ctx)
	return &dialBackConns{target: target, ctx: ctx, stop: stop}
}

// dial connects to the target, whatever address the Transport asks for.
func (d *dialBackConns) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, net.ErrClosed
	}
	d.dialing.Add(1)
	d.mu.Unlock()
	defer d.dialing.Done()
	// Either context ends the dial: the request's, or the check's.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.ctx, cancel)
	defer stop()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", d.target.String())
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	d.conns = append(d.conns, c)
	return c, nil
}

// closeAll ends the dials in progress, waits for them, and closes every
// connection opened; later dials fail.
func (d *dialBackConns) closeAll() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stop()
	d.dialing.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}
