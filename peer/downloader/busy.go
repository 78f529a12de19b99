package downloader

import (
	"errors"
	"time"

	"connectrpc.com/connect"
)

// A source that refuses a transfer with ResourceExhausted is busy: it
// serves others up to its limits (transfers per account, per address, in
// all; transfer.ErrBusy). That is no fault of the source, and it is
// usually over in seconds, so a busy refusal is handled apart from
// failures:
//   - a stream refused while another stream of the same source still runs
//     ends quietly, its pieces back in the queue: the source serves this
//     download as fast as its limits let it, and is not charged a failure
//     (before, the second stream's refusals used up the source's retries
//     and dropped it, cancelling the stream that was being served);
//   - the last stream of a source refused is asked again with backoff
//     (RetryDelay doubling, MaxRetryDelay at most), for BusyWait since its
//     first refusal without a piece in between, then the source is
//     dropped with the refusal as its error. MaxRetries does not count
//     busy refusals.

// DefaultBusyWait is how long a download asks a busy source again before
// dropping it (Options.BusyWait).
const DefaultBusyWait = 30 * time.Second

// busy reports whether err is a source's refusal for being busy.
func busy(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == connect.CodeResourceExhausted
}

// yieldBusy reports whether the stream of s that failed with err is to end
// quietly: err is a busy refusal and another stream of s still runs. If
// so it has counted the stream out, in the same critical section, so that
// of two streams refused at once one always stays.
func (e *engine) yieldBusy(s *source, err error) bool {
	if !busy(err) {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.streams <= 1 || s.dropped {
		return false
	}
	s.streams--
	return true
}

// busyDelayLocked returns how long to wait before asking busy s again, or
// -1 once it has been refusing for BusyWait. The backoff is counted from
// its first refusal.
func (e *engine) busyDelayLocked(s *source) time.Duration {
	now := time.Now()
	if s.busySince.IsZero() {
		s.busySince = now
	}
	waited := now.Sub(s.busySince)
	if waited >= e.o.BusyWait {
		return -1
	}
	// Doubling from RetryDelay with the time already waited: RetryDelay,
	// then about as long as it has waited so far.
	return min(max(e.o.RetryDelay, waited), MaxRetryDelay, e.o.BusyWait-waited)
}
