package downloader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// claim takes work for a stream of source s: the first run of up to max
// consecutive missing pieces off the queue or, once none is missing (the
// endgame), one piece another source is still fetching, to fetch it a second
// time (dup): whichever copy arrives first is kept, so a slow source cannot
// hold up the end of a download. It waits while there is neither, until the
// download ends: pieces in flight elsewhere may still come back.
func (e *engine) claim(ctx context.Context, s *source, max int) (first, count int, dup, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if e.stopped || ctx.Err() != nil {
			return 0, 0, false, false
		}
		if e.nmissing > 0 {
			i := e.cursor
			for e.st[i] != missing {
				i++
			}
			for j := i; j < e.n && count < max && e.st[j] == missing; j++ {
				e.st[j] = assigned
				e.owners[j] = 1
				e.owner[j] = s
				count++
			}
			e.nmissing -= count
			e.cursor = i + count
			return i, count, false, true
		}
		// Everything below hashNext is done already.
		for i := e.hashNext; i < e.n; i++ {
			if e.st[i] == assigned && e.owners[i] == 1 && e.owner[i] != s {
				e.owners[i]++
				return i, 1, true, true
			}
		}
		e.cond.Wait()
	}
}

// releaseLocked records that a stream no longer fetches piece i, which it
// did not deliver: the piece goes back in the queue unless another stream
// still fetches it or it arrived meanwhile.
func (e *engine) releaseLocked(i int) {
	e.owners[i]--
	if e.owners[i] == 0 && e.st[i] == assigned {
		e.requeueLocked(i)
	}
}

// requeueLocked puts piece i back in the queue.
func (e *engine) requeueLocked(i int) {
	e.st[i] = missing
	e.nmissing++
	e.cursor = min(e.cursor, i)
	e.cond.Broadcast()
}

// failed records a failure of s and waits before its next attempt. It
// reports whether s should go on: false once s is dropped (at once for a
// failure that retrying cannot mend) or the download is ending.
func (e *engine) failed(ctx context.Context, s *source, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	e.mu.Lock()
	s.err = err
	var delay time.Duration
	if busy(err) {
		// Not a fault of the source: it is serving others up to its
		// limits. Asked again, with backoff, for BusyWait at most.
		delay = e.busyDelayLocked(s)
		if delay < 0 {
			e.dropLocked(s, fmt.Errorf("%w (for %v)", err, e.o.BusyWait))
			e.mu.Unlock()
			return false
		}
		e.mu.Unlock()
		return e.sleep(ctx, delay)
	}
	s.fails++
	if errors.Is(err, ErrStalled) {
		s.stalls++
	}
	if e.permanent(err) || s.fails > e.o.MaxRetries || e.hung(s) {
		e.dropLocked(s, err)
		e.mu.Unlock()
		return false
	}
	delay = min(e.o.RetryDelay<<(s.fails-1), MaxRetryDelay)
	e.mu.Unlock()
	return e.sleep(ctx, delay)
}

// sleep waits d, false if ctx ends first.
func (e *engine) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// hung reports whether s, whose latest failure may be a stall, is to be
// given up on as hung: it never answered Stat within the stall timeout, or
// stalled MaxStalls times in a row. Retrying a hung source with backoff
// would cost a full stall timeout per attempt.
func (e *engine) hung(s *source) bool {
	return s.stalls > 0 && !s.statted || s.stalls >= MaxStalls
}

// dropLocked gives up on s for this download.
func (e *engine) dropLocked(s *source, err error) {
	if s.dropped {
		return
	}
	s.dropped = true
	s.err = err
	e.live--
	s.cancel(err)
	e.cond.Broadcast()
}

// permanent reports whether a source's failure is one that retrying the
// same source cannot mend.
func permanent(err error) bool {
	// A server with another key than the pin is not the peer, however
	// often it is asked.
	if errors.Is(err, ErrBadPiece) || errors.Is(err, ErrBadSource) ||
		errors.Is(err, identity.ErrPinMismatch) || errors.Is(err, rpcclient.ErrNoPin) {
		return true
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code() {
	case connect.CodeNotFound, connect.CodeOutOfRange, connect.CodeInvalidArgument,
		connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeUnimplemented,
		connect.CodeFailedPrecondition, connect.CodeDataLoss:
		return true
	}
	return false
}

// unverifiedLocked returns piece i, whose copy was rejected, to a stream
// still fetching another copy (endgame), else to the queue.
func (e *engine) unverifiedLocked(i int) {
	if e.owners[i] > 0 {
		e.st[i] = assigned
		e.cond.Broadcast()
		return
	}
	e.requeueLocked(i)
}
