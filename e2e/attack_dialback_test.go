package e2e_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/reachproof"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server/directory"
)

// probeTarget is a TCP listener that records what the directory's
// dial-back does to it: connections (at most how many open at once), and
// the first line of each request; it never answers.
//
// "Open" is the kernel's view, not a goroutine's: at each accept the
// target asks every connection it holds, without blocking, whether its
// other end has closed (see sweep). A dial-back frees its slot only after
// closing its connection, so that end-of-file is queued before the next
// dial can arrive, whatever the scheduler does with the target's
// goroutines.
type probeTarget struct {
	ln                 net.Listener
	accepted, mostOpen atomic.Int32

	mu    sync.Mutex
	open  map[net.Conn][]byte // what each has sent so far
	lines []string            // first line of each closed connection
}

func newProbeTarget(t *testing.T, addr string) *probeTarget {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &probeTarget{ln: ln, open: map[net.Conn][]byte{}}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for c := range p.open {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.mu.Lock()
			p.sweepLocked()
			p.open[c] = nil
			if n := int32(len(p.open)); n > p.mostOpen.Load() {
				p.mostOpen.Store(n)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// openNow sweeps and returns how many connections are still open.
func (p *probeTarget) openNow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked()
	return len(p.open)
}

// sweepLocked reads, without blocking, what each open connection has
// pending, and forgets (keeping its first line) each whose other end has
// closed.
func (p *probeTarget) sweepLocked() {
	for c, sent := range p.open {
		// Errors here mean the target itself closed c (at cleanup).
		raw, err := c.(*net.TCPConn).SyscallConn()
		eof := err != nil
		buf := make([]byte, 4096)
		for !eof {
			var n int
			var rerr error
			if err := raw.Read(func(fd uintptr) bool {
				n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
				return true
			}); err != nil {
				eof = true
				break
			}
			if rerr != nil {
				// EAGAIN: open, nothing more pending. A reset counts as
				// closed.
				eof = !errors.Is(rerr, syscall.EAGAIN)
				if !eof {
					break
				}
			} else if n == 0 {
				eof = true
			} else {
				sent = append(sent, buf[:n]...)
			}
		}
		p.open[c] = sent
		if eof {
			line, _, _ := strings.Cut(string(sent), "\n")
			p.lines = append(p.lines, strings.TrimSpace(line))
			c.Close()
			delete(p.open, c)
		}
	}
}

// peerLogin logs a peer session in as name advertising address.
func peerLogin(t *testing.T, n *testnet.Network, name, address string) {
	t.Helper()
	n.AddUser(name)
	keptAlive(t, session.Config{Directory: n.DirectoryURL, Username: name, Password: testnet.Password, PeerName: name, Advertise: address})
}

// TestAttackDialBack: the directory's reachability check cannot be aimed
// at a third party. It dials only the advertised host:port, and only when
// that host is the address the login came from (a login from 127.0.0.1
// advertising 127.0.0.2 gets no connection at 127.0.0.2); what it sends is
// one GET of the fixed reach path; it runs at most
// DefaultDialBackConcurrency dials at once, each bounded by its timeout,
// however many peers log in pointing at the same server.
func TestAttackDialBack(t *testing.T) {
	n := testnet.Start(t, testnet.Options{})
	c := client(t, n)

	third := newProbeTarget(t, "127.0.0.2:0")
	peerLogin(t, n, "aimer", "http://"+third.ln.Addr().String())
	testutil.Eventually(t, 0, "aimer checked", func() error {
		if r := listPeers(t, c, (*directoryv1.PeerInfo).GetReachability)["aimer"]; r != directoryv1.Reachability_REACHABILITY_UNREACHABLE {
			return fmt.Errorf("listed %s", r)
		}
		return nil
	})
	if a := third.accepted.Load(); a != 0 {
		t.Fatalf("the directory connected %d times to a third party's address", a)
	}

	// A hung server on the login's own host: many logins aim at it.
	hung := newProbeTarget(t, "127.0.0.1:0")
	const logins = directory.DefaultDialBackConcurrency + 6
	var wg sync.WaitGroup
	for i := range logins {
		wg.Go(func() { peerLogin(t, n, fmt.Sprintf("flood%d", i), "http://"+hung.ln.Addr().String()) })
	}
	wg.Wait()
	// Each login's check ends within its timeout: dialled (and found
	// unreachable), or left unknown when no dial was free in time.
	testutil.Eventually(t, 0, "every flood check over", func() error {
		r := listPeers(t, c, (*directoryv1.PeerInfo).GetReachability)
		unreachable := int32(0)
		for i := range logins {
			switch r[fmt.Sprintf("flood%d", i)] {
			case directoryv1.Reachability_REACHABILITY_UNREACHABLE:
				unreachable++
			case directoryv1.Reachability_REACHABILITY_DIRECT:
				return fmt.Errorf("flood%d listed direct", i)
			}
		}
		if open, acc := hung.openNow(), hung.accepted.Load(); open != 0 || acc < directory.DefaultDialBackConcurrency || unreachable != acc {
			return fmt.Errorf("%d open, %d accepted, %d unreachable", open, acc, unreachable)
		}
		return nil
	})
	// Without the cap all logins' dial-backs would be open together.
	if m := hung.mostOpen.Load(); m > directory.DefaultDialBackConcurrency {
		t.Fatalf("%d dial-backs at once, the cap is %d", m, directory.DefaultDialBackConcurrency)
	}
	if a := hung.accepted.Load(); a == 0 || a > logins {
		t.Fatalf("%d connections for %d logins", a, logins)
	}
	hung.mu.Lock()
	defer hung.mu.Unlock()
	for _, l := range hung.lines {
		if l != "" && !strings.HasPrefix(l, http.MethodGet+" "+reachproof.Path+"?"+reachproof.ChallengeParam+"=") && !strings.HasPrefix(l, "PRI * HTTP/2.0") {
			t.Fatalf("the dial-back sent %q", l)
		}
	}
}
