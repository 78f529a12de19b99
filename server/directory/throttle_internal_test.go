package directory

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
)

// TestThrottleDelays walks the throttle through an attack: the delays grow
// with failures and with attempts running at once, one address cannot run
// more than MaxLoginsInFlight, another address waits at most
// MaxAccountLoginDelay, and failures fade with time.
func TestThrottleDelays(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	th := newThrottle(clock.Now)
	const attacker, honest = "192.0.2.1:4000", "198.51.100.7:5000"

	// Attempts running at once count like failures: a parallel burst
	// waits as a sequential one would.
	var ends []func(outcome)
	var waits []time.Duration
	for range MaxLoginsInFlight {
		wait, end, err := th.begin("alice", attacker)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, wait)
		ends = append(ends, end)
	}
	want := []time.Duration{0, 0, 0}
	for d := LoginDelayBase; len(want) < MaxLoginsInFlight; d = min(2*d, MaxAddressLoginDelay) {
		want = append(want, d)
	}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits of a burst = %v, want %v", waits, want)
	}
	// One address cannot run more at once, even on another account.
	if _, _, err := th.begin("bob", "192.0.2.1:4001"); !errors.Is(err, ErrTooManyAttempts) {
		t.Errorf("attempt past MaxLoginsInFlight = %v, want ErrTooManyAttempts", err)
	}
	// The honest owner, elsewhere, waits at most the account's cap.
	wait, end, err := th.begin("alice", honest)
	if err != nil || wait != MaxAccountLoginDelay {
		t.Errorf("honest attempt during the burst waits %v (%v), want %v", wait, err, MaxAccountLoginDelay)
	}
	end(outcomeOther) // gave up: not counted
	// Another account from another address is not slowed at all.
	if wait, end, err := th.begin("carol", "203.0.113.9:1"); err != nil || wait != 0 {
		t.Errorf("unrelated attempt waits %v (%v)", wait, err)
	} else {
		end(outcomeRight)
	}

	for _, end := range ends {
		end(outcomeWrong)
		end(outcomeWrong) // a second call is ignored
	}
	if wait, end, _ := th.begin("alice", attacker); wait != MaxAddressLoginDelay {
		t.Errorf("attacker after the burst waits %v, want %v", wait, MaxAddressLoginDelay)
	} else {
		end(outcomeOther)
	}
	// The right password clears the account's failures, not the
	// address's: an attacker's own account cannot clear its address.
	wait, end, _ = th.begin("alice", honest)
	if wait != MaxAccountLoginDelay {
		t.Errorf("honest attempt after the burst waits %v, want %v", wait, MaxAccountLoginDelay)
	}
	end(outcomeRight)
	if wait, end, _ := th.begin("alice", "203.0.113.10:1"); wait != 0 {
		t.Errorf("after the owner's login, alice waits %v, want 0", wait)
	} else {
		end(outcomeOther)
	}
	if wait, end, _ := th.begin("mallory", attacker); wait != MaxAddressLoginDelay {
		t.Errorf("attacker's own account waits %v, want %v", wait, MaxAddressLoginDelay)
	} else {
		end(outcomeRight)
	}
	// Failures halve every half-life: 16 failures are 1 after four.
	clock.Advance(4 * LoginFailureHalfLife)
	if wait, end, _ := th.begin("alice", attacker); wait != 0 {
		t.Errorf("after four half-lives the attacker waits %v, want 0", wait)
	} else {
		end(outcomeOther)
	}
	// Idle, forgotten keys are dropped.
	clock.Advance(10 * LoginFailureHalfLife)
	th.prune()
	if n := len(th.accounts.m) + len(th.addresses.m); n != 0 {
		t.Errorf("%d keys left after pruning", n)
	}
}

// TestThrottleOverflow fills the account table: untracked names share one
// counter, so made-up names cannot escape the delay, and nothing is
// refused.
func TestThrottleOverflow(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	th := newThrottle(clock.Now)
	for i := range maxTrackedKeys {
		th.accounts.m[fmt.Sprint("user", i)] = &attempts{fails: 100, at: clock.Now()}
	}
	for i := range FreeLoginFailures + 1 {
		wait, end, err := th.begin(fmt.Sprint("new", i), fmt.Sprintf("10.0.%d.1:1", i))
		if err != nil {
			t.Fatal(err)
		}
		if i < FreeLoginFailures && wait != 0 {
			t.Errorf("overflow attempt %d waits %v", i, wait)
		}
		if i == FreeLoginFailures && wait != LoginDelayBase {
			t.Errorf("overflow attempt %d waits %v, want %v", i, wait, LoginDelayBase)
		}
		end(outcomeWrong)
	}
	if len(th.accounts.m) != maxTrackedKeys {
		t.Errorf("table grew to %d", len(th.accounts.m))
	}
}
