package directory

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/clientaddr"
)

// Login throttling: after a few failed logins, an account's logins, and
// logins from an address, wait before their password is checked, longer
// after every further failure, up to a cap. Nothing is ever refused for
// the account's sake, so an attacker cannot lock its owner out: an honest
// login waits at most MaxAccountLoginDelay (from a quiet address) and then
// gets in. Attempts running at once count like failures, so a burst of
// parallel guesses waits as long as the same guesses in a row; and one
// address may run at most MaxLoginsInFlight at once, so parallelism cannot
// multiply its guessing rate.
const (
	// FreeLoginFailures is how many recent failures of an account, or from
	// an address, cost no delay: a mistyped password is not punished.
	FreeLoginFailures = 3
	// LoginDelayBase is the delay after the free failures; every further
	// failure doubles it.
	LoginDelayBase = 250 * time.Millisecond
	// MaxAccountLoginDelay caps the delay an account's failures put on its
	// logins from any address: the longest an honest login waits however
	// hard its account is attacked from elsewhere.
	MaxAccountLoginDelay = 2 * time.Second
	// MaxAddressLoginDelay caps the delay failures from one address put on
	// that address's logins.
	MaxAddressLoginDelay = 16 * time.Second
	// LoginFailureHalfLife is how fast failures are forgotten: their count
	// halves every half-life without a new one.
	LoginFailureHalfLife = 5 * time.Minute
	// MaxLoginsInFlight is how many logins from one address may run at
	// once (waiting or checking a password); more are refused with
	// ErrTooManyAttempts until one ends.
	MaxLoginsInFlight = 16
	// maxTrackedKeys bounds the memory of each table (accounts,
	// addresses): past it, untracked keys share one overflow counter, so
	// filling the table with made-up names slows logins (up to the cap)
	// instead of escaping the delay.
	maxTrackedKeys = 100_000
	// forgottenBelow is the failure count under which an idle entry is
	// dropped.
	forgottenBelow = 0.05
	// minPruneInterval spaces the full scans a full table triggers, so
	// that a flood of new keys does not make every login scan it.
	minPruneInterval = time.Second
)

// outcome is how a login attempt ended, for the throttle.
type outcome int

const (
	// outcomeOther is neither a right nor a wrong password: the caller
	// gave up, or the directory failed. It is not counted.
	outcomeOther outcome = iota
	// outcomeWrong is a wrong username or password.
	outcomeWrong
	// outcomeRight is a login that checked the password and passed.
	outcomeRight
)

// throttle counts login failures and running attempts per account and per
// address and decides each attempt's delay. It is safe for concurrent use.
type throttle struct {
	now func() time.Time

	mu        sync.Mutex
	accounts  counters
	addresses counters
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, accounts: newCounters(), addresses: newCounters()}
}

// counters is one table of attempts by key.
type counters struct {
	m         map[string]*attempts
	overflow  attempts // shared by keys past maxTrackedKeys
	lastPrune time.Time
}

func newCounters() counters { return counters{m: make(map[string]*attempts)} }

// attempts are one key's recent failures and running attempts.
type attempts struct {
	fails    float64   // failures, decayed to at
	at       time.Time // when fails was last brought up to date
	inflight int       // attempts begun and not ended
}

// score is the key's failures decayed to now plus its running attempts.
func (a *attempts) score(now time.Time) float64 {
	a.decay(now)
	return a.fails + float64(a.inflight)
}

// decay brings fails up to now.
func (a *attempts) decay(now time.Time) {
	if dt := now.Sub(a.at); dt > 0 {
		a.fails *= math.Exp2(-float64(dt) / float64(LoginFailureHalfLife))
		a.at = now
	}
}

// get returns the attempts of key, tracking it if there is room. The
// caller holds the throttle's mutex.
func (c *counters) get(key string, now time.Time) *attempts {
	if a, ok := c.m[key]; ok {
		return a
	}
	if len(c.m) >= maxTrackedKeys && now.Sub(c.lastPrune) >= minPruneInterval {
		c.prune(now)
	}
	if len(c.m) >= maxTrackedKeys {
		return &c.overflow
	}
	a := &attempts{at: now}
	c.m[key] = a
	return a
}

// prune drops idle keys whose failures are forgotten. The caller holds the
// throttle's mutex.
func (c *counters) prune(now time.Time) {
	c.lastPrune = now
	for k, a := range c.m {
		if a.inflight == 0 && a.score(now) < forgottenBelow {
			delete(c.m, k)
		}
	}
}

// loginDelay is the delay of a key with the given score (failures plus
// running attempts): none for the first FreeLoginFailures, then
// LoginDelayBase doubling per unit, at most limit.
func loginDelay(score float64, limit time.Duration) time.Duration {
	if score < FreeLoginFailures {
		return 0
	}
	d := float64(LoginDelayBase) * math.Exp2(score-FreeLoginFailures)
	if d >= float64(limit) {
		return limit
	}
	return time.Duration(d)
}

// begin starts a login attempt of account from address (a remote
// host:port, or "" when unknown) and returns how long it must wait before
// its password is checked, and end, which the caller must call once with
// the outcome.
// Errors: ErrTooManyAttempts when the address has MaxLoginsInFlight
// attempts running.
func (t *throttle) begin(account, address string) (wait time.Duration, end func(outcome), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	ad := t.addresses.get(clientaddr.Of(address), now)
	if ad.inflight >= MaxLoginsInFlight {
		return 0, nil, fmt.Errorf("%w: %d login attempts at once from your address, at most %d; wait for them to end", ErrTooManyAttempts, ad.inflight, MaxLoginsInFlight)
	}
	ac := t.accounts.get(account, now)
	wait = max(loginDelay(ac.score(now), MaxAccountLoginDelay), loginDelay(ad.score(now), MaxAddressLoginDelay))
	ac.inflight++
	ad.inflight++
	var once sync.Once
	end = func(o outcome) {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			now := t.now()
			ac.inflight--
			ad.inflight--
			switch o {
			case outcomeWrong:
				for _, a := range []*attempts{ac, ad} {
					a.decay(now)
					a.fails++
				}
			case outcomeRight:
				// Only the password's holder can clear the account's
				// failures. The address's stay: an attacker with an
				// account of its own must not clear its address's by
				// logging in between guesses.
				ac.fails = 0
			}
		})
	}
	return wait, end, nil
}

// prune forgets idle keys whose failures have decayed away.
func (t *throttle) prune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.accounts.prune(now)
	t.addresses.prune(now)
}
