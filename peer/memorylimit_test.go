package peer_test

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/peer"
)

// TestApplyMemoryLimit checks that a Config's MemoryLimit becomes the
// process's soft memory limit, and that zero leaves the one in force. It
// is not parallel: the limit is process-wide (and restored at the end).
func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	const limit = 1 << 40 // bytes: far above what the tests use
	if got := (peer.Config{MemoryLimit: limit}).ApplyMemoryLimit(); got != limit {
		t.Errorf("MemoryLimit %d: limit in force %d", int64(limit), got)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("runtime's limit %d, want %d", got, int64(limit))
	}
	if got := (peer.Config{}).ApplyMemoryLimit(); got != limit {
		t.Errorf("MemoryLimit 0 changed the limit to %d, want %d kept", got, int64(limit))
	}
}

// TestMemoryLimitValidated checks that a negative MemoryLimit is refused
// with the flag's name.
func TestMemoryLimitValidated(t *testing.T) {
	c := peer.Config{Share: t.TempDir(), User: "u", Password: "p", MemoryLimit: -1}.WithDefaults()
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--memory-limit") {
		t.Errorf("MemoryLimit -1: %v, want an error naming --memory-limit", err)
	}
	c.MemoryLimit = peer.DefaultMemoryLimit
	if err := c.Validate(); err != nil {
		t.Errorf("MemoryLimit %d: %v", int64(peer.DefaultMemoryLimit), err)
	}
}
