package downloader

import (
	"crypto/sha256"
	"fmt"
	"time"
)

// verify checks the pieces that arrive against their hashes and writes the
// good ones at their offsets (a piece handed off unchecked, see checkEach,
// is written as it is); it runs on several goroutines, beside the streams
// that receive.
func (e *engine) verify() {
	for r := range e.verifyQ {
		e.mu.Lock()
		want := e.hashes[r.i]
		e.mu.Unlock()
		if r.check && sha256.Sum256(r.buf) != want {
			e.putBuf(r.buf)
			err := fmt.Errorf("%w: piece %d", ErrBadPiece, r.i)
			e.mu.Lock()
			e.nverifying--
			e.unverifiedLocked(r.i)
			r.src.err = err
			e.dropLocked(r.src, err)
			e.mu.Unlock()
			continue
		}
		off, n := e.bounds(r.i)
		if _, err := e.f.WriteAt(r.buf, off); err != nil {
			e.putBuf(r.buf)
			e.mu.Lock()
			e.nverifying--
			e.unverifiedLocked(r.i)
			e.failLocked(fmt.Errorf("write %s: %w", e.dir.path(e.dir.partial), diskFull(err)))
			e.mu.Unlock()
			continue
		}
		e.wb.wrote(n)
		e.mu.Lock()
		e.nverifying--
		if !r.check {
			e.lazy.set(r.i)
			e.from[r.i] = r.src
		}
		e.st[r.i] = done
		e.ndone++
		e.doneBytes += n
		e.fetchedBytes += n
		e.fetchedPieces++
		r.src.pieces++
		r.src.bytes += n
		r.src.fails = 0
		r.src.stalls = 0
		r.src.busySince = time.Time{}
		keep := !e.stopped && r.i < e.hashNext+e.hold()
		if keep {
			e.held[r.i] = r.buf
		}
		e.cond.Broadcast()
		e.mu.Unlock()
		if !keep {
			e.putBuf(r.buf)
		}
	}
}
