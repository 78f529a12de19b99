package cli

import (
	"context"
	"fmt"
	"time"
)

// waitPoll is how often get --wait asks the directory again for the
// file's sources while none is online or every one is gone or hung: a
// peer that comes online is found within this long (in time).
const waitPoll = time.Second

// waiter is get --wait: it decides whether get, finding no source, asks
// the directory again, says so (a line on stderr, or a JSON event on
// stdout with --json) and paces the attempts.
type waiter struct {
	query    string
	wait     time.Duration // 0: do not wait
	deadline time.Time
	asJSON   bool
	g        *globals
	said     string // the reason last reported, not repeated on a terminal
	expired  bool   // the wait ran out
}

// newWaiter starts the --wait clock for query.
func newWaiter(g *globals, asJSON bool, query string, wait time.Duration) *waiter {
	return &waiter{query: query, wait: wait, deadline: time.Now().Add(wait), asJSON: asJSON, g: g}
}

// again reports whether get should look for sources once more, having
// found none for reason; if so it has reported that it is waiting and
// waited waitPoll (less near the deadline). False once the wait ran out
// (or there is none) or ctx ends.
func (w *waiter) again(ctx context.Context, reason string) bool {
	if w.wait <= 0 || ctx.Err() != nil {
		return false
	}
	left := time.Until(w.deadline)
	if left <= 0 {
		w.expired = true
		return false
	}
	switch {
	case w.asJSON:
		printJSON(w.g.streams.Out, getWaiting{Event: "waiting", Query: w.query, Reason: reason, Until: w.deadline.UTC()})
	case reason != w.said:
		fmt.Fprintf(w.g.streams.Err, "Waiting for a source of %s (%s); giving up in %v.\n", w.query, reason, left.Round(time.Second))
	}
	w.said = reason
	t := time.NewTimer(min(waitPoll, left))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fail says why get gives up: err, after the wait if it ran out.
func (w *waiter) fail(err error) error {
	if w.expired {
		return fmt.Errorf("no source of %s came online within --wait %v: %w", w.query, w.wait, err)
	}
	return err
}
