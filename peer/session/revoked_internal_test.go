package session

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/token"
)

// TestLearnRevoked: a whole list replaces what the peer knows, an
// incremental one adds to it (so a revocation sent once, before the
// directory's overlap moved past it, stays refused), a revocation learned
// longer than token.RevocationRetention ago is forgotten, and the AsOf to
// send next is the last answer's (none when the answer had none, so the
// next heartbeat asks for the whole list).
func TestLearnRevoked(t *testing.T) {
	s := &Session{}
	t1 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	learn := func(incremental bool, asOf time.Time, ids ...string) {
		t.Helper()
		res := &directoryv1.HeartbeatResponse{RevokedSessionIds: ids, RevocationsIncremental: incremental}
		if !asOf.IsZero() {
			res.RevocationsAsOf = timestamppb.New(asOf)
		}
		s.mu.Lock()
		s.learnRevokedLocked(res)
		s.mu.Unlock()
	}
	want := func(what string, asOf time.Time, revoked map[string]bool) {
		t.Helper()
		for id, w := range revoked {
			if got := s.Revoked(id); got != w {
				t.Errorf("%s: Revoked(%s) = %v, want %v", what, id, got, w)
			}
		}
		if !s.revokedAsOf.Equal(asOf) {
			t.Errorf("%s: next since = %v, want %v", what, s.revokedAsOf, asOf)
		}
	}

	learn(false, t1, "a")
	want("whole list", t1, map[string]bool{"a": true})
	learn(true, t1.Add(time.Minute), "b")
	want("increment", t1.Add(time.Minute), map[string]bool{"a": true, "b": true})
	learn(true, t1.Add(2*time.Minute))
	want("empty increment", t1.Add(2*time.Minute), map[string]bool{"a": true, "b": true})

	// Learned longer ago than a token of its session can live: forgotten
	// at the next increment.
	s.mu.Lock()
	s.revoked["a"] = time.Now().Add(-token.RevocationRetention - time.Second)
	s.mu.Unlock()
	learn(true, t1.Add(3*time.Minute), "c")
	want("after the retention", t1.Add(3*time.Minute), map[string]bool{"a": false, "b": true, "c": true})

	// A whole list replaces; one without AsOf (an older directory) makes
	// the next heartbeat ask for the whole list.
	learn(false, time.Time{}, "d")
	want("whole list again", time.Time{}, map[string]bool{"b": false, "c": false, "d": true})
}
