package rpcserver

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultStallTimeout is how long a request may move less than StallBytes
// while the server waits on its client (to send the next bytes of the
// request, or to accept the next bytes of the response) before it is ended.
const DefaultStallTimeout = 30 * time.Second

// StallBytes is the progress that keeps a request alive: a client must send
// or accept this many bytes (a download chunk, by default) per stall
// timeout, about 8.5 KiB/s at the default. Responses are written in pieces
// of this size, so that a slow reader's progress is seen within a piece.
// Smaller pieces would let slower readers live, but cost each a DATA frame
// and a write: 32 KiB pieces took 10-20% more CPU per downloaded byte
// (BenchmarkDownload in peer/transferapi, PEERHUB_BENCH_STALL=off to
// compare), 256 KiB ones cost no more than the noise.
const StallBytes = 256 << 10 // bytes

// Directions of a stream, as labels of peerhub_rpc_stalls_total.
const (
	reading = iota // the server waits for request bytes
	writing        // the server waits for the client to accept response bytes
)

var directionNames = [2]string{reading: "read", writing: "write"}

// stallGuard ends each request whose client stops moving data: a client
// that sends nothing more of a request (an Upload's next chunk), or accepts
// nothing more of a response (a Download it stopped reading), holds a
// goroutine, buffers and, for a transfer, one of the peer's few slots.
//
// Each request has a watchdog. It counts only the time the handler waits
// in a Read of the body or a Write (or Flush) of the response, so a handler
// that waits for a transfer slot or works on its own is never the client's
// fault. When that time reaches the timeout without StallBytes moving, the
// watchdog sets the stream's deadline in the past
// (http.ResponseController): over HTTP/2 a write deadline resets only that
// stream and a read deadline fails only its body, whatever else shares the
// connection; over HTTP/1.1 the connection is the stream. The handler's
// Read or Write then fails with DeadlineExceeded.
func (s *Server) stallGuard(next http.Handler) http.Handler {
	timeout := s.opts.StallTimeout
	if timeout < 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wd := &watchdog{timeout: timeout, rc: http.NewResponseController(w), stalls: s.stalls}
		defer wd.stop()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &watchedBody{ReadCloser: r.Body, wd: wd}
		}
		next.ServeHTTP(&watchedWriter{ResponseWriter: w, wd: wd}, r)
	})
}

// watchdog measures, per direction, the time a request's handler waits on
// its client, and ends the request when it stalls.
type watchdog struct {
	timeout time.Duration
	rc      *http.ResponseController
	stalls  *prometheus.CounterVec

	mu      sync.Mutex
	timer   *time.Timer
	armed   bool      // the timer will fire
	due     time.Time // when it will
	stopped bool
	dirs    [2]progress
}

// progress is one direction's account.
type progress struct {
	calls   int           // Reads (Writes) under way
	since   time.Time     // when the current call began
	waited  time.Duration // time spent in calls since StallBytes last moved
	moved   int           // bytes moved since StallBytes last moved
	stalled bool
}

// begin records the start of a call in direction d.
func (wd *watchdog) begin(d int) {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	p := &wd.dirs[d]
	p.calls++
	if p.calls == 1 {
		p.since = time.Now()
	}
	due := p.since.Add(wd.timeout - p.waited)
	if wd.stopped || (wd.armed && !due.Before(wd.due)) {
		return
	}
	wd.arm(due)
}

// arm sets the timer to fire at due.
func (wd *watchdog) arm(due time.Time) {
	wd.armed, wd.due = true, due
	wait := max(time.Until(due), time.Millisecond)
	if wd.timer == nil {
		wd.timer = time.AfterFunc(wait, wd.check)
	} else {
		wd.timer.Reset(wait)
	}
}

// end records the end of a call in direction d that moved n bytes, and
// reports whether the direction stalled.
func (wd *watchdog) end(d int, n int) bool {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	p := &wd.dirs[d]
	p.calls--
	if p.calls == 0 {
		p.waited += time.Since(p.since)
	}
	p.moved += n
	if p.moved >= StallBytes {
		p.moved, p.waited = 0, 0
		if p.calls > 0 {
			p.since = time.Now()
		}
	}
	return p.stalled
}

// check runs when the timer fires: it ends the request in each direction
// that has waited for the timeout, and re-arms the timer for the others.
func (wd *watchdog) check() {
	wd.mu.Lock()
	if wd.stopped {
		wd.mu.Unlock()
		return
	}
	now := time.Now()
	next := time.Duration(0)
	var ended []int
	for d := range wd.dirs {
		p := &wd.dirs[d]
		if p.calls == 0 || p.stalled {
			continue
		}
		left := wd.timeout - p.waited - now.Sub(p.since)
		if left <= 0 {
			p.stalled = true
			ended = append(ended, d)
			continue
		}
		if next == 0 || left < next {
			next = left
		}
	}
	wd.armed = false
	if next > 0 {
		wd.arm(now.Add(next))
	}
	wd.mu.Unlock()
	past := now.Add(-time.Second)
	for _, d := range ended {
		wd.stalls.WithLabelValues(directionNames[d]).Inc()
		if d == reading {
			_ = wd.rc.SetReadDeadline(past)
		} else {
			_ = wd.rc.SetWriteDeadline(past)
		}
	}
}

// stop ends the watch when the handler returns.
func (wd *watchdog) stop() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	wd.stopped = true
	if wd.timer != nil {
		wd.timer.Stop()
	}
}

// stallError is what a stalled Read or Write returns instead of the
// deadline's error, so the call ends with a code that says what happened.
func (wd *watchdog) stallError(d int) error {
	if d == reading {
		return connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("the client sent less than %d bytes in %s; request ended", StallBytes, wd.timeout))
	}
	return connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("the client accepted less than %d bytes in %s; stream ended", StallBytes, wd.timeout))
}

// watchedBody is a request body under a watchdog.
type watchedBody struct {
	io.ReadCloser
	wd *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.wd.begin(reading)
	n, err := b.ReadCloser.Read(p)
	if b.wd.end(reading, n) && err != nil {
		err = b.wd.stallError(reading)
	}
	return n, err
}

// watchedWriter is a response writer under a watchdog. It writes in pieces
// of StallBytes, so that the watchdog sees a slow reader's progress.
type watchedWriter struct {
	http.ResponseWriter
	wd *watchdog
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		// Pieces of StallBytes, the last up to twice that: a short tail
		// would cost a DATA frame of its own.
		piece := p
		if len(p) >= 2*StallBytes {
			piece = p[:StallBytes]
		}
		w.wd.begin(writing)
		n, err := w.ResponseWriter.Write(piece)
		stalled := w.wd.end(writing, n)
		written += n
		if err != nil {
			if stalled {
				err = w.wd.stallError(writing)
			}
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// FlushError flushes the response, for http.ResponseController.
func (w *watchedWriter) FlushError() error {
	w.wd.begin(writing)
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if w.wd.end(writing, 0) && err != nil {
		err = w.wd.stallError(writing)
	}
	return err
}

// Flush implements http.Flusher, which connect requires.
func (w *watchedWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
