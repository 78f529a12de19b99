package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Live searches (WatchSearch): defaults and bounds.
const (
	// DefaultMaxAccountWatches is how many watches one account may have
	// open at once at one directory (replica): enough for a few terminals
	// and wishlists, while each costs the directory a stream, a goroutine
	// and, per distinct query, one search per poll.
	DefaultMaxAccountWatches = 8
	// DefaultWatchPoll is how often the directory searches again for
	// every watched query, in time: how late a change made through
	// another replica, or a peer's expiry, reaches a watch. Changes made
	// through this replica wake the watches at once.
	DefaultWatchPoll = time.Second
	// DefaultWatchKeepalive is how long a watch stays silent before it
	// sends a keepalive event, in time: under the idle timeouts of common
	// proxies (60 s for nginx and most load balancers). At each keepalive
	// the watch also checks that the caller's session is still live.
	DefaultWatchKeepalive = 30 * time.Second
	// MaxWatchResults is how many matching contents one watch follows:
	// one page of Search at its largest.
	MaxWatchResults = MaxPageSize
	// minWatchGap is the least time between two searches of the watched
	// queries, so that a burst of publishes costs one round, not one
	// each.
	minWatchGap = 50 * time.Millisecond
)

// ErrUnavailable means the directory is shutting down; a watch ends with it.
var ErrUnavailable = errors.New("unavailable")

// WatchEventType is what a WatchEvent reports.
type WatchEventType int

// Kinds of WatchEvent, as in the protocol's WatchEventType.
const (
	// WatchCurrent is a content that matched when the watch started.
	WatchCurrent WatchEventType = iota + 1
	// WatchSynced follows the last WatchCurrent; it has no result.
	WatchSynced
	// WatchAdded is a content that started to match.
	WatchAdded
	// WatchRemoved is a content that stopped matching, as last reported.
	WatchRemoved
	// WatchChanged is a matching content whose sources or names changed.
	WatchChanged
	// WatchKeepalive says the watch is alive; it has no result.
	WatchKeepalive
)

// WatchEvent is one event of a live search.
type WatchEvent struct {
	// Type is what happened.
	Type WatchEventType
	// Result is the content concerned; zero for WatchSynced and
	// WatchKeepalive.
	Result store.SearchResult
	// Truncated is set on WatchSynced when more than MaxWatchResults
	// contents matched.
	Truncated bool
}

// Watch is one live search of one caller: Next returns its events. Close
// it when done, to give its slot back.
type Watch struct {
	d      *Directory
	caller token.Claims
	feed   *feed
	after  uint64    // it shows only answers of later rounds: fresh ones
	sent   *snapshot // what the caller has been told; nil before SYNCED
	closed func()    // gives the slot back, once
}

// Watch opens a live search of q for caller; its first events (Next) are
// the contents that match now. q's page fields are ignored.
// Errors: ErrInvalidArgument as Search's; ErrLimit when the caller's
// account has MaxAccountWatches watches open here; ErrUnavailable when the
// directory is shutting down.
func (d *Directory) Watch(ctx context.Context, caller token.Claims, q store.SearchQuery) (*Watch, error) {
	q.PageSize, q.PageToken = MaxWatchResults, ""
	if err := checkSearch(q); err != nil {
		return nil, err
	}
	w := &Watch{d: d, caller: caller}
	f, after, release, err := d.watches.subscribe(caller.Subject, q)
	if err != nil {
		return nil, err
	}
	w.feed, w.after, w.closed = f, after, release
	return w, nil
}

// WatchStats counts the live searches open now and their distinct
// queries (what each poll round searches), for metrics.
func (d *Directory) WatchStats() (watches, queries int) { return d.watches.open() }

// Close ends the watch and gives its slot back. It is safe to call twice.
func (w *Watch) Close() { w.closed() }

// Next waits for the watch's next events and returns them: first every
// content that matches now (WatchCurrent) then WatchSynced, afterwards the
// changes since the previous call, or a WatchKeepalive after
// Config.WatchKeepalive without any.
// Errors: ctx's; ErrUnauthenticated once the caller's session has ended
// (checked at each keepalive); ErrUnavailable when the directory shuts
// down; a failure of the store before the first results.
func (w *Watch) Next(ctx context.Context) ([]WatchEvent, error) {
	keepalive := time.NewTimer(w.d.cfg.WatchKeepalive)
	defer keepalive.Stop()
	for {
		snap, changed, failed, err := w.d.watches.current(w.feed, w.after)
		switch {
		case err != nil:
			return nil, err
		case failed != nil && w.sent == nil:
			// No results to start from; later failures keep the last.
			return nil, fmt.Errorf("watch: %w", failed)
		}
		if snap != nil && snap != w.sent {
			events := w.diff(snap)
			w.sent = snap
			if len(events) > 0 {
				return events, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-changed:
		case <-keepalive.C:
			if err := w.sessionLive(ctx); err != nil {
				return nil, err
			}
			return []WatchEvent{{Type: WatchKeepalive}}, nil
		}
	}
}

// sessionLive checks that the caller's session has not ended since the
// watch opened (logout, expiry, removal of the account).
func (w *Watch) sessionLive(ctx context.Context) error {
	s, err := w.d.store.GetSession(ctx, w.caller.SessionID, w.d.cfg.Now())
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && s.Username != w.caller.Subject:
		return fmt.Errorf("%w: session ended; the watch ends with it", ErrUnauthenticated)
	case err != nil:
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// diff is what tells a caller who knows w.sent about snap: everything as
// WatchCurrent and WatchSynced the first time, then the contents that left
// (in the order they had), and those that came or changed (in snap's).
func (w *Watch) diff(snap *snapshot) []WatchEvent {
	if w.sent == nil {
		out := make([]WatchEvent, 0, len(snap.results)+1)
		for _, r := range snap.results {
			out = append(out, WatchEvent{Type: WatchCurrent, Result: r})
		}
		return append(out, WatchEvent{Type: WatchSynced, Truncated: snap.truncated})
	}
	var out []WatchEvent
	for _, r := range w.sent.results {
		if _, ok := snap.index[descriptorOf(r)]; !ok {
			out = append(out, WatchEvent{Type: WatchRemoved, Result: r})
		}
	}
	for _, r := range snap.results {
		i, ok := w.sent.index[descriptorOf(r)]
		switch {
		case !ok:
			out = append(out, WatchEvent{Type: WatchAdded, Result: r})
		case !sameResult(w.sent.results[i], r):
			out = append(out, WatchEvent{Type: WatchChanged, Result: r})
		}
	}
	return out
}

// descriptor identifies a content, as a search groups results.
type descriptor struct {
	sha256, pieceRoot string
	size              int64
	pieceSize         int32
}

func descriptorOf(r store.SearchResult) descriptor {
	return descriptor{sha256: r.SHA256, pieceRoot: r.PieceRoot, size: r.Size, pieceSize: r.PieceSize}
}

// sameResult reports whether two results of one descriptor tell a watcher
// the same: the same names and sources. A source's LastSeen moves with
// every heartbeat, and is not news.
func sameResult(a, b store.SearchResult) bool {
	return a.AccountCount == b.AccountCount && slices.Equal(a.Names, b.Names) &&
		slices.EqualFunc(a.Sources, b.Sources, func(x, y store.Source) bool {
			return x.Peer == y.Peer && x.Username == y.Username && x.Address == y.Address && x.Name == y.Name
		})
}

// snapshot is what one query matched in one round; never changed once
// made.
type snapshot struct {
	results   []store.SearchResult
	index     map[descriptor]int // position in results
	truncated bool
}

// searchSnapshot takes the snapshot of q at now: its first MaxWatchResults
// results.
func (d *Directory) searchSnapshot(ctx context.Context, q store.SearchQuery) (*snapshot, error) {
	res, next, err := d.store.Search(ctx, q, d.cfg.Now())
	if err != nil {
		return nil, err
	}
	s := &snapshot{results: res, index: make(map[descriptor]int, len(res)), truncated: next != ""}
	for i, r := range res {
		s.index[descriptorOf(r)] = i
	}
	return s, nil
}
