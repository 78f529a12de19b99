package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/batch"
)

// MaxHeartbeatBatch is the most heartbeats one transaction commits.
const MaxHeartbeatBatch = 512

// Heartbeat is one heartbeat of a round: a session and its new last_seen
// and expires_at, as stored (Nanos).
type Heartbeat struct {
	ID           string
	Now, Expires int64
}

// pending is a heartbeat waiting for its batch.
type pending struct {
	ctx context.Context // the caller's: a heartbeat given up is dropped
	Heartbeat
}

// touched is the outcome of one heartbeat.
type touched struct {
	s   store.Session
	err error
}

// Heartbeats group-commits heartbeats (store.Store.TouchSession) for a store
// whose write transactions are of type Tx. A worker takes every heartbeat
// queued while its previous batch was committing and applies them in one
// transaction, one statement per round of distinct sessions. A commit costs
// far more than the row update, so under load (thousands of peers
// heartbeating) throughput grows with the batch, while a lone heartbeat
// costs one transaction as it would without batching.
type Heartbeats[Tx any] struct {
	batcher *batch.Batcher[*pending, touched]
	inTx    func(ctx context.Context, fn func(tx Tx) error) error
	round   func(ctx context.Context, tx Tx, round []Heartbeat) ([]store.Session, error)
}

// NewHeartbeats returns Heartbeats whose batches run under ctx: once it is
// done, the workers return and Touch fails with closed. inTx runs a batch's
// transaction and may run its function again (a retry). round applies
// heartbeats of distinct sessions, at most MaxHeartbeatBatch, with one
// statement that extends each session unless it has expired at the
// heartbeat's Now ("expires_at > now", which also refuses a revival), and
// returns the sessions it extended as updated. Start workers with Run.
func NewHeartbeats[Tx any](ctx context.Context, closed error,
	inTx func(ctx context.Context, fn func(tx Tx) error) error,
	round func(ctx context.Context, tx Tx, round []Heartbeat) ([]store.Session, error),
) *Heartbeats[Tx] {
	h := &Heartbeats[Tx]{inTx: inTx, round: round}
	h.batcher = batch.New(ctx, closed, MaxHeartbeatBatch, h.commit)
	return h
}

// Run is a worker: it commits batches until the context of NewHeartbeats
// is done. Run it in as many goroutines as batches may commit at once.
func (h *Heartbeats[Tx]) Run() { h.batcher.Run() }

// Touch implements store.Store.TouchSession through the batch.
func (h *Heartbeats[Tx]) Touch(ctx context.Context, id string, now, expiresAt time.Time) (store.Session, error) {
	res, err := h.batcher.Do(ctx, &pending{ctx: ctx, Heartbeat: Heartbeat{ID: id, Now: Nanos(now), Expires: Nanos(expiresAt)}})
	if err != nil {
		// The caller gave up (the heartbeat may still be applied), or
		// the store is closing.
		return store.Session{}, fmt.Errorf("touch session %s: %w", id, err)
	}
	return res.s, res.err
}

// pendingKey is the key of a heartbeat: its session.
func pendingKey(p *pending) string { return p.ID }

// commit applies heartbeats in one transaction and answers each, in order.
// If the transaction fails, none is applied and all get the error.
func (h *Heartbeats[Tx]) commit(ctx context.Context, reqs []*pending) []touched {
	var res map[*pending]touched
	err := h.inTx(ctx, func(tx Tx) error {
		res = make(map[*pending]touched, len(reqs)) // afresh if retried
		// One statement updates a row once: a session heartbeating
		// twice in one batch waits for a second round.
		return batch.Rounds(reqs, pendingKey, func(p *pending) bool {
			if p.ctx.Err() == nil {
				return false
			}
			res[p] = touched{err: fmt.Errorf("touch session %s: %w", p.ID, p.ctx.Err())}
			return true
		}, func(round []*pending) error {
			return h.commitRound(ctx, tx, round, res)
		})
	})
	out := make([]touched, len(reqs))
	for i, p := range reqs {
		out[i] = res[p]
		if err != nil {
			out[i] = touched{err: fmt.Errorf("touch session %s: %w", p.ID, err)}
		}
	}
	return out
}

// commitRound applies one round of heartbeats of distinct sessions and
// records each outcome in res: the updated session, or ErrNotFound for a
// session that does not exist or has expired.
func (h *Heartbeats[Tx]) commitRound(ctx context.Context, tx Tx, round []*pending, res map[*pending]touched) error {
	if len(round) == 0 {
		return nil
	}
	beats := make([]Heartbeat, len(round))
	byID := make(map[string]*pending, len(round))
	for i, p := range round {
		beats[i] = p.Heartbeat
		byID[p.ID] = p
	}
	sessions, err := h.round(ctx, tx, beats)
	if err != nil {
		return err
	}
	for _, ss := range sessions {
		if p := byID[ss.ID]; p != nil {
			res[p] = touched{s: ss}
		}
	}
	for _, p := range round {
		if _, ok := res[p]; !ok {
			res[p] = touched{err: fmt.Errorf("session %s: %w", p.ID, store.ErrNotFound)}
		}
	}
	return nil
}
