package testutil

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2Conn is a raw cleartext HTTP/2 connection (prior knowledge, as h2c
// servers take it) for tests that must behave as no real client does: open
// streams and then stop reading them (grant them no flow-control window)
// or stop sending, while other streams of the same connection go on.
//
// It acknowledges SETTINGS, answers PINGs and always returns the
// connection-level window; it returns a stream's window only for streams
// opened with reading set. It records what each stream receives. Request
// bodies are sent without regard to the server's flow control, so keep them
// within its initial window (64 KiB).
type H2Conn struct {
	t    testing.TB
	conn net.Conn

	wmu    sync.Mutex // guards the writing side of fr, enc and nextID
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	nextID uint32

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	streams map[uint32]*H2Stream
	err     error // why the connection ended, once it has
}

// H2Stream is what one stream of an H2Conn received so far.
type H2Stream struct {
	// Reading says the stream's flow-control window is returned as data
	// arrives; a stream without it gets only the initial window.
	Reading bool
	// Status is the response's HTTP status, once its headers came.
	Status string
	// Header holds the response headers and trailers.
	Header http.Header
	// Data is how many bytes of DATA arrived.
	Data int
	// Body is the first h2BodyKeep bytes of that data.
	Body []byte
	// Ended says the server ended the stream (END_STREAM).
	Ended bool
	// WasReset says the server reset the stream, with code Reset.
	WasReset bool
	Reset    http2.ErrCode
}

// h2BodyKeep is how much of a stream's response H2Stream keeps: enough for
// any error or small answer.
const h2BodyKeep = 64 << 10 // bytes

// Done reports whether the stream is over: ended or reset.
func (s H2Stream) Done() bool { return s.Ended || s.WasReset }

// String summarises the stream for a test's message, without its body.
func (s H2Stream) String() string {
	state := "open"
	switch {
	case s.WasReset:
		state = "reset " + s.Reset.String()
	case s.Ended:
		state = "ended"
	}
	return fmt.Sprintf("HTTP %s, %d bytes, %s, grpc-status %q", s.Status, s.Data, state, s.Header.Get("Grpc-Status"))
}

// DialH2 connects to addr (host:port) and sends the client preface with an
// initial stream window of window bytes. The connection closes when the
// test ends.
func DialH2(t testing.TB, addr string, window uint32) *H2Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &H2Conn{t: t, conn: conn, fr: http2.NewFramer(conn, conn), nextID: 1, changed: make(chan struct{}), streams: map[uint32]*H2Stream{}}
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}); err != nil {
		t.Fatal(err)
	}
	go c.readLoop()
	return c
}

// Close closes the connection.
func (c *H2Conn) Close() error { return c.conn.Close() }

// Open starts a stream of method to path with header (names in any case) and,
// if body is not nil, body as its first data; end closes the request side.
// reading says whether the stream's window is returned as its response
// arrives. It returns the stream's id.
func (c *H2Conn) Open(method, path string, header http.Header, body []byte, end, reading bool) uint32 {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	id := c.nextID
	c.nextID += 2
	c.mu.Lock()
	c.streams[id] = &H2Stream{Reading: reading, Header: http.Header{}}
	c.mu.Unlock()
	c.encBuf.Reset()
	for _, f := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", c.conn.RemoteAddr().String()}, {":path", path}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for k, vs := range header {
		for _, v := range vs {
			_ = c.enc.WriteField(hpack.HeaderField{Name: strings.ToLower(k), Value: v})
		}
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.encBuf.Bytes(), EndHeaders: true, EndStream: end && body == nil})
	if err == nil && body != nil {
		err = c.writeData(id, body, end)
	}
	if err != nil {
		c.t.Errorf("open stream %d: %v", id, err)
	}
	return id
}

// Send sends more of stream id's request body; end closes its request
// side.
func (c *H2Conn) Send(id uint32, data []byte, end bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeData(id, data, end)
}

// writeData writes data in frames of the smallest size a server must
// accept.
func (c *H2Conn) writeData(id uint32, data []byte, end bool) error {
	const frame = 16 << 10 // bytes: the initial SETTINGS_MAX_FRAME_SIZE
	for {
		n := min(len(data), frame)
		last := n == len(data)
		if err := c.fr.WriteData(id, end && last, data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if last {
			return nil
		}
	}
}

// Stream returns what stream id received so far.
func (c *H2Conn) Stream(id uint32) H2Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := *c.streams[id]
	s.Header, s.Body = s.Header.Clone(), bytes.Clone(s.Body)
	return s
}

// Wait waits until cond holds for stream id, the connection ends or ctx is
// done (after DefaultWait if ctx has no deadline), and returns the stream
// then, with the connection's error if it ended.
func (c *H2Conn) Wait(ctx context.Context, id uint32, cond func(H2Stream) bool) (H2Stream, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	for {
		c.mu.Lock()
		s, err, changed := *c.streams[id], c.err, c.changed
		s.Header, s.Body = s.Header.Clone(), bytes.Clone(s.Body)
		c.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}

// update applies f to stream id's record (if the stream is known) and
// wakes Wait.
func (c *H2Conn) update(id uint32, f func(*H2Stream)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.streams[id]; ok {
		f(s)
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *H2Conn) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.err = err
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		id := f.Header().StreamID
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.control(func() error { return c.fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.control(func() error { return c.fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			c.update(id, func(s *H2Stream) {
				if st := f.PseudoValue("status"); st != "" {
					s.Status = st
				}
				for _, hf := range f.RegularFields() {
					s.Header.Add(hf.Name, hf.Value)
				}
				s.Ended = s.Ended || f.StreamEnded()
			})
		case *http2.DataFrame:
			n := len(f.Data())
			var reading bool
			c.update(id, func(s *H2Stream) {
				s.Data += n
				if keep := h2BodyKeep - len(s.Body); keep > 0 {
					s.Body = append(s.Body, f.Data()[:min(n, keep)]...)
				}
				s.Ended = s.Ended || f.StreamEnded()
				reading = s.Reading
			})
			if n > 0 {
				c.control(func() error {
					if reading && !f.StreamEnded() {
						if err := c.fr.WriteWindowUpdate(id, uint32(n)); err != nil {
							return err
						}
					}
					return c.fr.WriteWindowUpdate(0, uint32(n))
				})
			}
		case *http2.RSTStreamFrame:
			c.update(id, func(s *H2Stream) { s.WasReset, s.Reset = true, f.ErrCode })
		case *http2.GoAwayFrame:
			// The server stops taking new streams; the open ones go on.
		}
	}
}

// control writes a frame of the connection's own bookkeeping. A failure
// shows as the connection's end in the read loop.
func (c *H2Conn) control(write func() error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = write()
}

// GRPCMessage frames msg as one gRPC (and Connect streaming) message: an
// uncompressed flag byte and a 4-byte big-endian length before it.
func GRPCMessage(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}
