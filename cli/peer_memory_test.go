package cli

import (
	"math"
	"testing"

	"github.com/peerhub/peerhub/peer"
)

// TestPeerMemoryLimit checks the precedence of the peer's memory limit:
// --memory-limit (or PEERHUB_MEMORY_LIMIT, which sets it), then GOMEMLIMIT,
// then the default; 0 on the flag is no limit.
func TestPeerMemoryLimit(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	none := map[string]string{}
	gomem := map[string]string{"GOMEMLIMIT": "100MiB"}
	for _, c := range []struct {
		name  string
		given bool
		flag  int64
		env   map[string]string
		want  int64
	}{
		{"default", false, peer.DefaultMemoryLimit, none, peer.DefaultMemoryLimit},
		{"GOMEMLIMIT stays", false, peer.DefaultMemoryLimit, gomem, 0},
		{"empty GOMEMLIMIT", false, peer.DefaultMemoryLimit, map[string]string{"GOMEMLIMIT": ""}, peer.DefaultMemoryLimit},
		{"flag wins", true, 64 << 20, gomem, 64 << 20},
		{"flag 0 is none", true, 0, none, math.MaxInt64},
	} {
		if got := peerMemoryLimit(c.given, c.flag, env(c.env)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
