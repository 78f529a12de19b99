package testutil

import (
	"sync/atomic"
	"time"
)

// Clock is a settable clock for code that takes a `func() time.Time`: it
// stands still until the test advances it. Safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at a fixed instant in the future (2030), so that
// nothing in a test can be mistaken for "now".
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
