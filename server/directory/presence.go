package directory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// Presence: what a heartbeat writes to the store, and when.
//
// A heartbeat whose session this directory knows to be live
// (liveSessions: read or written less than SessionRecheck ago, not
// expired) and whose stored expiry is at most presenceLag short of the new
// one is answered from memory: its extension waits in presence and is
// written with the others of the same moment by flushPresence, every
// presenceLag (Run). Any other heartbeat touches the store at once
// (store.TouchSession, group-committed), which is also its check that the
// session still lives, so a heartbeat costs at most one store statement
// shared with the heartbeats of the same moment, and a session heartbeating
// faster than presenceLag costs one write per presenceLag.
//
// What this keeps: a session logged out or replaced here fails its next
// heartbeat at once (sessionsEnded forgets liveSessions, so that heartbeat
// touches the store and finds the session gone); one ended through another
// replica fails within SessionRecheck, as every other call; the stored
// expiry, which every query of online peers reads, is never more than
// presenceLag behind the last heartbeat, even if the directory stops
// before a flush, and a flush of an older extension written after a newer
// heartbeat does not set it back (store.TouchSession never moves it
// back). A flushed extension never revives a session: the store refuses
// to extend one that ended or expired.
//
// With a session TTL under 4 × SessionRecheck (a test's, or a directory
// with a very short heartbeat interval) the lag is TTL/4 instead
// (Directory.presenceLag), so the stored expiry always stays ahead of the
// last heartbeat by three quarters of the TTL and no session expires in
// the store while its extension waits.
const presenceLag = SessionRecheck

// presenceLag is how far the stored expiry of a session with TTL ttl may
// lag behind its last heartbeat: presenceLag, or ttl/4 if less.
func (d *Directory) presenceLag(ttl time.Duration) time.Duration {
	return min(presenceLag, ttl/4)
}

// maxFlushInFlight bounds the extensions a flush hands the store at once;
// the store commits those queued together in one transaction.
const maxFlushInFlight = 512

// presence holds the session extensions not yet written, newest per
// session.
type presence struct {
	mu      sync.Mutex
	pending map[string]extension // by session id
}

// extension is a heartbeat's new last-seen time and expiry.
type extension struct {
	now, expires time.Time
}

func newPresence() *presence { return &presence{pending: make(map[string]extension)} }

// note queues an extension of session id, keeping the later of two.
func (p *presence) note(id string, e extension) {
	p.mu.Lock()
	if old, ok := p.pending[id]; !ok || e.expires.After(old.expires) {
		p.pending[id] = e
	}
	p.mu.Unlock()
}

// written forgets session id's pending extension if the store has one as
// long already (expires): a flush must not shorten what a later heartbeat
// wrote.
func (p *presence) written(id string, expires time.Time) {
	p.mu.Lock()
	if old, ok := p.pending[id]; ok && !old.expires.After(expires) {
		delete(p.pending, id)
	}
	p.mu.Unlock()
}

// take returns the pending extensions and forgets them.
func (p *presence) take() map[string]extension {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return nil
	}
	out := p.pending
	p.pending = make(map[string]extension, len(out))
	return out
}

// touch extends the session of caller c by ttl, as a heartbeat at now,
// and returns it: from memory when that is safe (see presenceLag), else by
// a store write that also finds whether the session still lives.
// Errors: ErrUnauthenticated when the session has ended or does not match
// c; the store's failures.
func (d *Directory) touch(ctx context.Context, c token.Claims, now time.Time, ttl time.Duration) (store.Session, error) {
	expires := now.Add(ttl)
	if s, ok := d.live.get(c.SessionID, now); ok && !s.ExpiresAt.Before(expires.Add(-d.presenceLag(ttl))) {
		if err := matchSession(s, c); err != nil {
			return store.Session{}, err
		}
		d.presence.note(s.ID, extension{now: now, expires: expires})
		return s, nil
	}
	gen := d.live.begin()
	s, err := d.store.TouchSession(ctx, c.SessionID, now, expires)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, fmt.Errorf("%w: session ended; log in again", ErrUnauthenticated)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("heartbeat: %w", err)
	}
	d.presence.written(s.ID, s.ExpiresAt)
	if err := matchSession(s, c); err != nil {
		return store.Session{}, err
	}
	d.live.put(s, now, gen)
	return s, nil
}

// flushPresence writes the pending extensions, maxFlushInFlight at a time
// so that the store group-commits them. A session that ended meanwhile is
// not extended (the store says ErrNotFound, which is no failure here).
func (d *Directory) flushPresence(ctx context.Context) {
	pending := d.presence.take()
	if len(pending) == 0 {
		return
	}
	sem := make(chan struct{}, maxFlushInFlight)
	var wg sync.WaitGroup
	for id, e := range pending {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := d.store.TouchSession(ctx, id, e.now, e.expires); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
				d.log.Warn("writing a heartbeat", "session", id, "error", err)
			}
		})
	}
	wg.Wait()
}

// runPresence flushes the pending extensions every presence lag of a peer
// session (the shortest TTL) until ctx is done, and once more then (under
// a context of its own, bounded by presenceLag, since ctx has ended), so
// that a directory shut down keeps the heartbeats it answered.
func (d *Directory) runPresence(ctx context.Context) {
	t := time.NewTicker(d.presenceLag(min(d.cfg.SessionTTL, d.cfg.TokenTTL)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceLag)
			d.flushPresence(final)
			cancel()
			return
		case <-t.C:
			d.flushPresence(ctx)
		}
	}
}
