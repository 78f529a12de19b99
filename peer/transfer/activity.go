package transfer

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RecentUploads is how many of the last uploads received Status lists.
const RecentUploads = 50

// rateWindow is the shortest span a transfer's rate is measured over (it
// is measured over one to two of them, or since the start when younger):
// long enough to smooth the rate limiter's bursts, short enough to follow
// a change of pace.
const rateWindow = 2 * time.Second

// Direction says which way a transfer's data flows, seen from this peer.
type Direction int

// Directions of a transfer.
const (
	// Sending is a Download this peer serves: data leaves it.
	Sending Direction = iota + 1
	// Receiving is an Upload this peer receives: data arrives.
	Receiving
)

func (d Direction) String() string {
	if d == Receiving {
		return "upload"
	}
	return "download"
}

// Progress describes one running transfer.
type Progress struct {
	// Direction is which way its data flows.
	Direction Direction
	// Name is the file's path relative to the shared folder.
	Name string
	// SHA256 is the content's SHA-256, 64 lowercase hex digits.
	SHA256 string
	// Caller is the remote account and address.
	Caller Caller
	// Done is how many bytes were sent or received so far.
	Done int64
	// Size is how many bytes the transfer carries in all: a download's
	// range, an upload's announced size.
	Size int64
	// Started is when the transfer took its slot.
	Started time.Time
	// Rate is the recent rate, in bytes per second: over the last one to
	// two rateWindows, or since the start.
	Rate int64
}

// mark is a transfer's progress at one time, to measure its rate from.
type mark struct {
	at   time.Time
	done int64
}

// rateSince is the rate from m to done at now, in bytes per second.
func rateSince(m mark, done int64, now time.Time) int64 {
	d := now.Sub(m.at)
	if d <= 0 {
		return 0
	}
	return int64(float64(done-m.done) / d.Seconds())
}

// Received describes an upload this peer stored.
type Received struct {
	Stored
	// Account is the account that sent it.
	Account string
	// At is when it was stored.
	At time.Time
}

// Limits are a Service's limits, as configured (defaults applied).
type Limits struct {
	// MaxTransfers, MaxQueue, MaxPerAccount and MaxPerAddress are as in
	// Options; 0 means no cap for the per-caller ones.
	MaxTransfers, MaxQueue, MaxPerAccount, MaxPerAddress int
	// MaxRate is the most bytes per second downloads send; 0 unlimited.
	MaxRate int64
	// AcceptUploads, MaxUploadSize and MaxUploadTotal are as in Options.
	AcceptUploads                 bool
	MaxUploadSize, MaxUploadTotal int64
}

// Status is what a Service does now.
type Status struct {
	// Transfers are the running transfers, oldest first.
	Transfers []Progress
	// Waiting is how many transfers wait for a slot.
	Waiting int
	// Limits are the Service's limits.
	Limits Limits
	// UploadTotal is how many bytes uploads stored, across restarts.
	UploadTotal int64
	// Uploads are the last RecentUploads uploads stored since the Service
	// started, newest first.
	Uploads []Received
}

// tracked is one running transfer in an activity. Its counter is the only
// field that changes, by an atomic add per chunk: the hot path takes no
// lock.
type tracked struct {
	Progress // all but Done and Rate, fixed at start
	done     atomic.Int64

	// prev and cur are where the rate is measured from, moved on by the
	// status reads; guarded by activity.mu.
	prev, cur mark
}

// activity is the registry of running transfers and the ring of recent
// uploads. Its lock is taken when a transfer starts or ends and when the
// status is read, never per chunk.
type activity struct {
	log *slog.Logger

	mu      sync.Mutex
	next    uint64
	running map[uint64]*tracked
	recent  []Received // ring of at most RecentUploads
	head    int        // where the next upload goes once recent is full
}

func newActivity(log *slog.Logger) *activity {
	return &activity{log: log, running: map[uint64]*tracked{}}
}

// start registers a transfer that took its slot; the caller adds to its
// done counter as bytes move, and calls end once it is over with its error
// (nil when it completed), which logs it.
func (a *activity) start(ctx context.Context, dir Direction, name, sha string, size int64) (t *tracked, end func(error)) {
	now := time.Now()
	t = &tracked{Progress: Progress{Direction: dir, Name: name, SHA256: sha, Caller: callerFrom(ctx), Size: size, Started: now}}
	t.prev, t.cur = mark{at: now}, mark{at: now}
	a.mu.Lock()
	a.next++
	id := a.next
	a.running[id] = t
	a.mu.Unlock()
	return t, func(err error) {
		a.mu.Lock()
		delete(a.running, id)
		a.mu.Unlock()
		a.logEnd(t, err)
	}
}

// logEnd logs a transfer served: who, what, how much and how long. A
// failure is logged by its kind only: its detail may name local paths, and
// the RPC edge logs internal errors once, with a request id.
func (a *activity) logEnd(t *tracked, err error) {
	attrs := []any{
		"direction", t.Direction.String(), "account", t.Caller.Account, "address", t.Caller.Address,
		"file", t.Name, "sha256", t.SHA256, "bytes", t.done.Load(), "size", t.Size,
		"duration", time.Since(t.Started).Round(time.Millisecond),
	}
	switch {
	case err != nil:
		a.log.Info("transfer ended early", append(attrs, "outcome", outcome(err))...)
	case t.Direction == Receiving:
		a.log.Info("upload received", attrs...)
	default:
		a.log.Info("download served", attrs...)
	}
}

// outcome names the kind of a transfer's failure for the log.
func outcome(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, ErrMismatch):
		return "content mismatch"
	case errors.Is(err, ErrChanged):
		return "file changed"
	default:
		return "failed"
	}
}

// received records an upload stored.
func (a *activity) received(r Received) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) < RecentUploads {
		a.recent = append(a.recent, r)
		return
	}
	a.recent[a.head] = r
	a.head = (a.head + 1) % RecentUploads
}

// snapshot returns the running transfers (oldest first) with their rates
// at now, and the recent uploads (newest first).
func (a *activity) snapshot(now time.Time) ([]Progress, []Received) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]uint64, 0, len(a.running))
	for id := range a.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ps := make([]Progress, len(ids))
	for i, id := range ids {
		t := a.running[id]
		done := t.done.Load()
		if now.Sub(t.cur.at) >= rateWindow {
			t.prev, t.cur = t.cur, mark{at: now, done: done}
		}
		ps[i] = t.Progress
		ps[i].Done = done
		ps[i].Rate = rateSince(t.prev, done, now)
	}
	rs := make([]Received, 0, len(a.recent))
	for i := range a.recent {
		// Newest first: the one before head, going back.
		rs = append(rs, a.recent[(a.head-1-i+2*len(a.recent))%len(a.recent)])
	}
	return ps, rs
}

// Status reports the running transfers, the queue, the limits and the
// recent uploads.
func (s *Service) Status() Status {
	ps, rs := s.activity.snapshot(time.Now())
	st := Status{Transfers: ps, Waiting: len(s.queue), Limits: s.limits, Uploads: rs}
	if s.budget != nil {
		st.UploadTotal = s.budget.storedTotal()
	}
	return st
}
