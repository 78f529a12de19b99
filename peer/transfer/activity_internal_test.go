package transfer

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestRateWindow: a transfer's rate is measured since its start at first,
// then over the last one to two rateWindows, so an early burst stops
// counting and a stall shows.
func TestRateWindow(t *testing.T) {
	a := newActivity(slog.New(slog.DiscardHandler))
	tr, end := a.start(context.Background(), Sending, "f", "", 1<<30)
	defer end(nil)
	t0 := tr.Started
	at := func(d time.Duration, done int64) int64 {
		t.Helper()
		tr.done.Store(done)
		ps, _ := a.snapshot(t0.Add(d))
		return ps[0].Rate
	}
	// A 1 MiB burst at once, then 100 KiB/s.
	if got := at(time.Second, 1<<20+100_000); got != 1<<20+100_000 {
		t.Errorf("after 1 s: rate %d, want the average since the start", got)
	}
	if got := at(2*time.Second, 1<<20+200_000); got != (1<<20+200_000)/2 {
		t.Errorf("after 2 s: rate %d, want the average since the start", got)
	}
	// The window moved at 2 s: from 3 s on the burst no longer counts.
	if got := at(4*time.Second, 1<<20+400_000); got != 100_000 {
		t.Errorf("after 4 s: rate %d, want 100000", got)
	}
	// Stalled since 4 s.
	if got := at(7*time.Second, 1<<20+400_000); got != 0 {
		t.Errorf("stalled: rate %d, want 0", got)
	}
}
