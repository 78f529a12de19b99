package directory

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// watchHub runs the live searches of one directory. Watches of the same
// query share a feed, which the hub searches again every poll interval
// (Config.WatchPoll), or at once when this directory changed the index
// (poke): one search per distinct query per round, however many watch it.
//
// Rounds are paced so that searching takes at most half of the time (the
// gap after a round is at least as long as the round), so the cost of
// polling is bounded whatever the number of distinct queries; the delay
// with which changes arrive grows instead.
//
// It polls the store rather than listening for notifications because the
// store's answer changes without any write: a peer that stops
// heartbeating leaves every search at its expiry, which only a clock sees.
// Polling covers that, changes made through other replicas on the same
// PostgreSQL database, and both stores, with no schema or connection of
// its own; docs/BENCHMARKS.md has its cost.
type watchHub struct {
	search        func(ctx context.Context, q store.SearchQuery) (*snapshot, error)
	log           *slog.Logger
	poll          time.Duration
	maxPerAccount int

	wake chan struct{} // a local change or a new feed: search now

	mu       sync.Mutex
	feeds    map[store.SearchQuery]*feed
	accounts map[string]int // open watches per account
	round    uint64         // rounds started so far
	done     bool           // the hub has stopped
}

// feed is the state of one watched query.
type feed struct {
	q     store.SearchQuery
	subs  int
	snap  *snapshot // the latest results; replaced only when they differ
	fresh uint64    // the last round that searched (snap or err is its answer)
	err   error     // that round's failure, if it failed
	// changed is closed, and replaced, after every round: whoever waits on
	// it looks again.
	changed chan struct{}
}

func newWatchHub(d *Directory) *watchHub {
	return &watchHub{
		search:        d.searchSnapshot,
		log:           d.log,
		poll:          d.cfg.WatchPoll,
		maxPerAccount: d.cfg.MaxAccountWatches,
		wake:          make(chan struct{}, 1),
		feeds:         map[store.SearchQuery]*feed{},
		accounts:      map[string]int{},
	}
}

// poke makes the hub search every watched query again now (after
// minWatchGap since the last round): this directory changed the index.
func (h *watchHub) poke() {
	select {
	case h.wake <- struct{}{}:
	default: // a round is due already
	}
}

// subscribe opens a watch of q for account: the feed it follows, the
// round after which that feed's answers are fresh for it, and the function
// that closes the watch.
// Errors: ErrLimit when the account has maxPerAccount watches open;
// ErrUnavailable when the hub has stopped.
func (h *watchHub) subscribe(account string, q store.SearchQuery) (*feed, uint64, func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil, 0, nil, fmt.Errorf("directory shutting down: %w", ErrUnavailable)
	}
	if h.accounts[account] >= h.maxPerAccount {
		return nil, 0, nil, fmt.Errorf("account %s has the most live searches open at once allowed, %d: end one first: %w", account, h.maxPerAccount, ErrLimit)
	}
	h.accounts[account]++
	f := h.feeds[q]
	if f == nil {
		f = &feed{q: q, changed: make(chan struct{})}
		h.feeds[q] = f
	}
	f.subs++
	h.poke()
	return f, h.round, sync.OnceFunc(func() { h.unsubscribe(account, f) }), nil
}

func (h *watchHub) unsubscribe(account string, f *feed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.accounts[account]--; h.accounts[account] <= 0 {
		delete(h.accounts, account)
	}
	if f.subs--; f.subs == 0 {
		delete(h.feeds, f.q)
	}
}

// open counts the watches open now and their distinct queries.
func (h *watchHub) open() (watches, queries int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.accounts {
		watches += c
	}
	return watches, len(h.feeds)
}

// current returns f's results if a round after round answered them (nil
// if none did yet), the channel closed after the next round, and the
// failure of the latest round if it failed.
// Errors: ErrUnavailable when the hub has stopped.
func (h *watchHub) current(f *feed, after uint64) (snap *snapshot, changed <-chan struct{}, failed, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil, nil, nil, fmt.Errorf("directory shutting down: %w", ErrUnavailable)
	}
	if f.fresh > after {
		snap, failed = f.snap, f.err
	}
	return snap, f.changed, failed, nil
}

// run searches the watched queries every poll interval, and after every
// poke, until ctx ends; then every watch ends with ErrUnavailable.
func (h *watchHub) run(ctx context.Context) {
	defer h.stop()
	t := time.NewTicker(h.poll)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
		start := time.Now()
		h.searchAll(ctx)
		// Rounds take at most half the time: with many distinct queries
		// (or a slow database) the delay grows, not the load.
		gap.Reset(max(minWatchGap, time.Since(start)))
		select {
		case <-ctx.Done():
			return
		case <-gap.C:
		}
	}
}

// searchAll is one round: every watched query searched once.
func (h *watchHub) searchAll(ctx context.Context) {
	h.mu.Lock()
	h.round++
	round := h.round
	feeds := make([]*feed, 0, len(h.feeds))
	for _, f := range h.feeds {
		feeds = append(feeds, f)
	}
	h.mu.Unlock()
	for _, f := range feeds {
		snap, err := h.search(ctx, f.q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Warn("live search", "query", f.q.Query, "sha256", f.q.SHA256, "sha256_prefix", f.q.SHA256Prefix, "error", err)
		}
		h.mu.Lock()
		f.fresh, f.err = round, err
		if err == nil && (f.snap == nil || !sameSnapshot(f.snap, snap)) {
			f.snap = snap
		}
		close(f.changed)
		f.changed = make(chan struct{})
		h.mu.Unlock()
	}
}

// stop ends every watch: their Next returns ErrUnavailable.
func (h *watchHub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for _, f := range h.feeds {
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

// sameSnapshot reports whether two answers tell watchers the same.
func sameSnapshot(a, b *snapshot) bool {
	if a.truncated != b.truncated || len(a.results) != len(b.results) {
		return false
	}
	for i := range a.results {
		if descriptorOf(a.results[i]) != descriptorOf(b.results[i]) || !sameResult(a.results[i], b.results[i]) {
			return false
		}
	}
	return true
}
