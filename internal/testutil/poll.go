package testutil

import (
	"testing"
	"time"
)

// DefaultWait is how long Eventually waits when a test does not say: long
// enough for a loaded 2-core CI machine, short enough to fail a hung test
// quickly.
const DefaultWait = 15 * time.Second

// pollInterval is the pause between two checks of Eventually (5 ms: cheap
// checks, quick reaction).
const pollInterval = 5 * time.Millisecond

// Eventually calls check until it returns nil, and fails the test with what
// and check's last error when wait (DefaultWait when 0) passes first. It is
// the one way tests wait for something to happen: never a fixed sleep.
func Eventually(t testing.TB, wait time.Duration, what string, check func() error) {
	t.Helper()
	if wait <= 0 {
		wait = DefaultWait
	}
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v: %v", what, wait, err)
		}
		time.Sleep(pollInterval)
	}
}
