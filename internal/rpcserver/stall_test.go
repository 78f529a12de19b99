package rpcserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
)

// stallTimeout is the stall timeout of these tests: short, so they run
// quickly, and long enough that a loaded 2-core machine running -race
// schedules a steady client often enough to move StallBytes in it.
const stallTimeout = time.Second

// endpoints are plain handlers that stream until their client stalls, and
// report how each request ended.
type endpoints struct {
	mu    sync.Mutex
	ended map[string]chan error // by request id (header X-Id)
}

func (e *endpoints) done(r *http.Request) chan error {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.Header.Get("X-Id")
	if e.ended[id] == nil {
		e.ended[id] = make(chan error, 1)
	}
	return e.ended[id]
}

// serveEndpoints serves the endpoints of mount with the watchdog's
// StallTimeout stall (negative: off).
func serveEndpoints(t *testing.T, stall time.Duration) (*endpoints, *fixture) {
	t.Helper()
	e := &endpoints{ended: map[string]chan error{}}
	return e, serve(t, rpcserver.Options{StallTimeout: stall}, e.mount)
}

// dialTCP opens a raw TCP connection to addr, closed when the test ends,
// for a client that speaks (or stops speaking) the protocol by hand.
func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// result waits for the end of request id.
func (e *endpoints) result(t *testing.T, id string) error {
	t.Helper()
	e.mu.Lock()
	if e.ended[id] == nil {
		e.ended[id] = make(chan error, 1)
	}
	ch := e.ended[id]
	e.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-time.After(testutil.DefaultWait):
		t.Fatalf("request %s never ended", id)
		return nil
	}
}

func (e *endpoints) mount(s *rpcserver.Server) {
	piece := make([]byte, 64<<10)
	// /write sends 64 KiB pieces forever, or N bytes with ?bytes=N.
	s.Mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		var err error
		for err == nil {
			_, err = w.Write(piece)
		}
		e.done(r) <- err
	})
	// /read reads the body to its end.
	s.Mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		e.done(r) <- err
	})
	// /idle does nothing for three stall timeouts (a handler that waits on
	// its own, e.g. for a transfer slot: not its client's fault), then
	// answers.
	s.Mux.HandleFunc("/idle", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * stallTimeout)
		_, err := w.Write(piece)
		e.done(r) <- err
	})
}

func isStall(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeDeadlineExceeded
}

// TestStallHTTP2 runs, on one HTTP/2 connection, a stream whose client
// grants no window (a reader that stopped), a stream whose client sends
// nothing more, a stream read at a steady pace, a stream written at a
// steady pace and a stream whose handler idles: the two stalled ones end
// after the stall timeout with DeadlineExceeded, the others are untouched.
func TestStallHTTP2(t *testing.T) {
	t.Parallel()
	e, f := serveEndpoints(t, stallTimeout)
	c := testutil.DialH2(t, f.addr, 64<<10)
	id := func(s string) http.Header { return http.Header{"X-Id": {s}} }

	start := time.Now()
	stalledReader := c.Open("GET", "/write", id("stalled reader"), nil, true, false)
	stalledWriter := c.Open("POST", "/read", id("stalled writer"), []byte("first bytes, then nothing"), false, true)
	idle := c.Open("GET", "/idle", id("idle"), nil, true, true)
	reader := c.Open("GET", "/write", id("reader"), nil, true, true)
	writer := c.Open("POST", "/read", id("writer"), []byte("first"), false, true)

	// The writer sends StallBytes/4 every twentieth of the timeout: five
	// times StallBytes per timeout, for two timeouts (2.5 MiB, within the
	// server's window).
	go func() {
		tick := time.NewTicker(stallTimeout / 20)
		defer tick.Stop()
		for i := range 40 {
			<-tick.C
			if c.Send(writer, make([]byte, rpcserver.StallBytes/4), i == 39) != nil {
				return
			}
		}
	}()

	s, err := c.Wait(t.Context(), stalledReader, func(s testutil.H2Stream) bool { return s.WasReset })
	if err != nil {
		t.Fatalf("the stream nobody reads was never reset: %v (%v)", err, s)
	}
	if took := time.Since(start); took < stallTimeout {
		t.Errorf("reset after %v, before the stall timeout %v", took, stallTimeout)
	}
	if err := e.result(t, "stalled reader"); !isStall(err) {
		t.Errorf("the stalled reader's handler ended with %v, want DeadlineExceeded", err)
	}
	if err := e.result(t, "stalled writer"); !isStall(err) {
		t.Errorf("the stalled writer's handler ended with %v, want DeadlineExceeded", err)
	}
	if _, err := c.Wait(t.Context(), stalledWriter, testutil.H2Stream.Done); err != nil {
		t.Errorf("the stalled writer got no answer: %v", err)
	}
	if err := e.result(t, "writer"); err != nil {
		t.Errorf("the steady writer's request ended with %v", err)
	}
	if err := e.result(t, "idle"); err != nil {
		t.Errorf("the idle handler's answer failed: %v", err)
	}
	if s, err := c.Wait(t.Context(), idle, func(s testutil.H2Stream) bool { return s.Data > 0 }); err != nil {
		t.Errorf("the idle handler's answer never came: %v (%v)", err, s)
	}
	// The steady reader is still being served, long after the stalls.
	got := c.Stream(reader).Data
	if s, err := c.Wait(t.Context(), reader, func(s testutil.H2Stream) bool { return s.Done() || s.Data > got+1<<20 }); err != nil || s.Done() {
		t.Errorf("the steady reader's stream: %v (%v)", err, s)
	}
	c.Close()
}

// TestStallHTTP1 stops reading a response over HTTP/1.1: the connection is
// the stream, and the write deadline ends it.
func TestStallHTTP1(t *testing.T) {
	t.Parallel()
	e, f := serveEndpoints(t, stallTimeout)
	conn := dialTCP(t, f.addr)
	if _, err := conn.Write([]byte("GET /write HTTP/1.1\r\nHost: x\r\nX-Id: http1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Read the status line, then nothing more.
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := e.result(t, "http1"); err == nil {
		t.Error("the handler of a response nobody reads never failed")
	}
}

// TestStallOff checks that a negative timeout disables the watchdog.
func TestStallOff(t *testing.T) {
	t.Parallel()
	_, f := serveEndpoints(t, -1)
	c := testutil.DialH2(t, f.addr, 64<<10)
	id := c.Open("GET", "/write", http.Header{"X-Id": {"x"}}, nil, true, false)
	ctx, cancel := context.WithTimeout(t.Context(), 3*stallTimeout)
	defer cancel()
	if s, err := c.Wait(ctx, id, testutil.H2Stream.Done); err == nil {
		t.Errorf("stream ended without a watchdog: %v", s)
	}
}

// TestStallConnection stops reading the socket altogether, after granting
// the server a large window: the server's writes block in the kernel, where
// no stream deadline reaches (the reset frame cannot be written either), and
// the connection's write timeout drops the connection.
func TestStallConnection(t *testing.T) {
	t.Parallel()
	e, f := serveEndpoints(t, stallTimeout)
	conn := dialTCP(t, f.addr)
	fr := http2.NewFramer(conn, conn)
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", f.addr}, {":path", "/write"}, {"x-id", "deaf"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	const window = 1<<31 - 1
	_, err := conn.Write([]byte(http2.ClientPreface))
	if err == nil {
		err = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
	}
	if err == nil {
		err = fr.WriteWindowUpdate(0, window-65535)
	}
	if err == nil {
		err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr.Bytes(), EndStream: true, EndHeaders: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is read from conn from here on.
	if err := e.result(t, "deaf"); err == nil {
		t.Error("the handler writing to a client that reads nothing never failed")
	}
}
