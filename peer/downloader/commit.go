package downloader

import (
	"fmt"
	"time"
)

// commitLoop records progress every CommitInterval until stop is closed.
func (e *engine) commitLoop(stop <-chan struct{}) {
	t := time.NewTicker(e.o.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := e.commit(); err != nil {
				e.mu.Lock()
				if e.fatal == nil {
					e.fatal = err
				}
				e.cond.Broadcast()
				e.mu.Unlock()
				return
			}
		}
	}
}

// commit syncs the partial file and then records the pieces done before the
// sync in the state file, so the state never claims a piece that a crash
// could lose.
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
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", e.partial, err)
	}
	err := saveState(e.state, &state{
		Version:   stateVersion,
		SHA256:    e.t.SHA256,
		Size:      e.t.Size,
		PieceSize: e.psize,
		PieceRoot: e.t.PieceRoot,
		Done:      snap,
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.committed = snap
	e.mu.Unlock()
	return nil
}
