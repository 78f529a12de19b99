package e2e_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/reachproof"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server/directory"
)

// probeTarget is a TCP listener that records what the directory's
// dial-back does to it: connections (at most how many at once), and the
// first line of each request; it never answers.
type probeTarget struct {
	ln             net.Listener
	accepted, open atomic.Int32
	mostOpen       atomic.Int32
	mu             sync.Mutex
	lines          []string
	release        chan struct{}
}

func newProbeTarget(t *testing.T, addr string) *probeTarget {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &probeTarget{ln: ln, release: make(chan struct{})}
	t.Cleanup(func() { close(p.release); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			n := p.open.Add(1)
			for {
				m := p.mostOpen.Load()
				if n <= m || p.mostOpen.CompareAndSwap(m, n) {
					break
				}
			}
			go func() {
				defer p.open.Add(-1)
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				p.mu.Lock()
				p.lines = append(p.lines, strings.TrimSpace(line))
				p.mu.Unlock()
				// Hold the connection until the dialer gives up.
				c.Read(make([]byte, 1))
			}()
		}
	}()
	return p
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
		if open, acc := hung.open.Load(), hung.accepted.Load(); open != 0 || acc < directory.DefaultDialBackConcurrency || unreachable != acc {
			return fmt.Errorf("%d open, %d accepted, %d unreachable", open, acc, unreachable)
		}
		return nil
	})
	// The server sees a connection closed a moment after the directory
	// closed it and freed its slot: while one closes and the next opens,
	// one more than the cap can be seen at once. Without the cap all
	// logins' dial-backs would be open together.
	if m := hung.mostOpen.Load(); m > directory.DefaultDialBackConcurrency+1 {
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
