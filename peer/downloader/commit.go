package downloader

import (
	"fmt"
	"time"
)

// commitLoop records progress every CommitInterval until stop is closed;
// a failure to record it ends the download.
func (e *engine) commitLoop(stop <-chan struct{}) {
	every(stop, e.o.CommitInterval, func() bool {
		err := e.commit()
		if err != nil {
			e.fail(err)
		}
		return err == nil
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
		return fmt.Errorf("sync %s: %w", e.dir.path(e.dir.partial), err)
	}
	data, err := encodeState(&state{
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
	if err := e.dir.writeState(data); err != nil {
		return err
	}
	e.mu.Lock()
	e.committed = snap
	e.mu.Unlock()
	return nil
}
