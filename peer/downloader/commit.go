package downloader

import (
	"fmt"
	"time"
)

// commitLoop records progress every CommitInterval until stop is closed.
// A failure to record it does not stop the download, which can still
// complete in the space reserved for it; it is reported if the download
// fails (keep), and the next tick tries again. (The partial file's
// writeback is started by writebackLoop, by bytes written, not by time.)
func (e *engine) commitLoop(stop <-chan struct{}) {
	every(stop, e.o.CommitInterval, func() bool {
		err := e.commit()
		e.mu.Lock()
		e.commitErr = err
		e.mu.Unlock()
		return true
	})
}

// every calls fn every interval until stop is closed or fn returns false.
func every(stop <-chan struct{}, interval time.Duration, fn func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if !fn() {
				return
			}
		}
	}
}

// commit records the pieces written so far in the state file: it
// overwrites, in place, the older of its two records with the next
// generation (see state.go). Nothing is synced, neither the partial file
// nor the state: a state that claims a piece a power loss took only makes
// the next run fetch that piece again (resumed pieces are checked against
// their hashes), and the partial file is made durable when complete.
// Called by one goroutine at a time.
func (e *engine) commit() error {
	e.mu.Lock()
	snap := newBitmap(e.n)
	for i, s := range e.st {
		if s == done {
			snap.set(i)
		}
	}
	same := snap.equal(e.committed)
	e.mu.Unlock()
	if same {
		return nil
	}
	gen := e.gen + 1
	e.content().encodeRecord(e.rec, gen, snap)
	rs := recordSize(e.n)
	if _, err := e.sf.WriteAt(e.rec, int64(gen%2)*rs); err != nil {
		return fmt.Errorf("save download state in %s: %w", e.dir.path(e.dir.state), diskFull(err))
	}
	e.gen = gen
	e.mu.Lock()
	e.committed = snap
	e.mu.Unlock()
	return nil
}
