package testutil

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the CPU time (user and system) the test process has used so
// far. A test that measures what a server spends on a request runs that
// server in process and is not parallel, so the difference is the server's.
func CPUTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
