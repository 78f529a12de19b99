package testutil

import (
	"io"
	"net"
	"sync"
	"testing"
)

// HungListener is a peer that hangs: a real TCP endpoint on 127.0.0.1 that
// accepts connections and reads whatever comes but never writes a byte, as
// a peer whose process is stopped (SIGSTOP) or wedged would. It returns
// its http:// URL; it closes when the test ends.
func HungListener(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(io.Discard, c); c.Close() })
		}
	})
	return "http://" + l.Addr().String()
}
