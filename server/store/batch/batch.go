// Package batch owns group commit: a Batcher collects requests made
// concurrently and hands them in batches to one commit function, so that a
// costly step (a transaction commit, a round trip) is paid once per batch
// rather than once per request.
package batch

import "context"

// Batcher group-commits requests of type Req, each answered with a Res. A
// worker (Run) takes every request queued while its previous batch was
// committing, up to the maximum batch size, and commits them together; a
// lone request is committed at once, alone. It is safe for concurrent use.
type Batcher[Req, Res any] struct {
	ctx    context.Context
	closed error
	max    int
	commit func(ctx context.Context, reqs []Req) []Res
	queue  chan *call[Req, Res]
}

// call is one request waiting for a worker.
type call[Req, Res any] struct {
	req  Req
	done chan Res // buffered: a worker never blocks on it
}

// New returns a Batcher that commits with commit. ctx is the background
// context: commits run under it, and once it is done the workers return and
// Do fails with closed. maxBatch is the most requests in one commit, and in
// the queue. commit must return one Res per request, in the order of reqs;
// requests whose caller gave up may still be in reqs, and commit must not
// keep reqs after it returns.
func New[Req, Res any](ctx context.Context, closed error, maxBatch int, commit func(ctx context.Context, reqs []Req) []Res) *Batcher[Req, Res] {
	return &Batcher[Req, Res]{ctx: ctx, closed: closed, max: maxBatch, commit: commit, queue: make(chan *call[Req, Res], maxBatch)}
}

// Do queues req and waits for its result. It returns ctx's error if the
// caller gives up first (the request may still be committed), and the
// Batcher's closed error once its background context is done.
func (b *Batcher[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	var zero Res
	c := &call[Req, Res]{req: req, done: make(chan Res, 1)}
	select {
	case b.queue <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-b.ctx.Done():
		return zero, b.closed
	}
	select {
	case res := <-c.done:
		return res, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-b.ctx.Done():
		return zero, b.closed
	}
}

// Run is a worker: it commits batches until the background context is done.
// Run it in as many goroutines as commits may run at once.
func (b *Batcher[Req, Res]) Run() {
	calls := make([]*call[Req, Res], 0, b.max)
	reqs := make([]Req, 0, b.max)
	for {
		select {
		case c := <-b.queue:
			calls = append(calls[:0], c)
		case <-b.ctx.Done():
			return
		}
	fill:
		for len(calls) < b.max {
			select {
			case c := <-b.queue:
				calls = append(calls, c)
			default:
				break fill
			}
		}
		reqs = reqs[:0]
		for _, c := range calls {
			reqs = append(reqs, c.req)
		}
		res := b.commit(b.ctx, reqs)
		for i, c := range calls {
			c.done <- res[i]
		}
	}
}

// Rounds divides reqs into rounds in which no two requests share a key, in
// order (a key's second request goes in the second round, and so on), and
// calls apply on each round in turn, for work that can touch a key only once
// per step, such as one SQL statement updating a row once. It returns
// apply's first error. Before each round, drop is asked about every request
// still pending; a request it drops is in no later round.
func Rounds[Req any, K comparable](reqs []Req, key func(Req) K, drop func(Req) bool, apply func(round []Req) error) error {
	pending := reqs
	for len(pending) > 0 {
		var round, later []Req
		seen := make(map[K]bool, len(pending))
		for _, r := range pending {
			k := key(r)
			switch {
			case drop(r):
			case seen[k]:
				later = append(later, r)
			default:
				seen[k] = true
				round = append(round, r)
			}
		}
		if err := apply(round); err != nil {
			return err
		}
		pending = later
	}
	return nil
}
