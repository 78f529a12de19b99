package downloader

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/peerhub/peerhub/internal/pieces"
)

// holdPieces is how many verified pieces ahead of the whole-content hasher
// are kept in memory for it (in pieces): a download arriving roughly in
// order is hashed from memory, while pieces far ahead (out of order from a
// slow source) are read back from the page cache instead of piling up.
const holdPieces = 16

// holdBytes caps the memory of the pieces held for the hasher (in bytes):
// holdPieces of peerhub's 1 MiB pieces, fewer of a larger piece size.
const holdBytes = holdPieces << 20

// hold is how many pieces ahead of the hasher are kept in memory.
func (e *engine) hold() int { return int(max(1, min(holdPieces, holdBytes/e.psize))) }

// hash computes the whole content's SHA-256 and, once it is through, sets
// e.whole. When the content does not hash to its SHA-256 and pieces were
// written unchecked, it first has locate find the bad ones (which go back
// in the queue, their sources banned) and hashes the content again once
// they are fetched; e.whole then holds the hash of a content whose every
// piece matches its hash, for finish to compare.
func (e *engine) hash() {
	for {
		sum, ok := e.hashPass()
		if !ok {
			return
		}
		if pieces.Hex(sum) != e.t.SHA256 {
			bad, err := e.locate()
			if err != nil {
				e.fail(err)
				return
			}
			if bad > 0 {
				continue
			}
		}
		e.mu.Lock()
		e.whole = &sum
		e.hashNext = e.n
		e.cond.Broadcast()
		e.mu.Unlock()
		return
	}
}

// hashPass hashes the whole content once, in order, as pieces are done:
// from memory for the pieces the verifiers kept for it, else read back from
// the partial file. It verifies resumed pieces as it reads them, and puts
// the ones that do not match back in the queue. ok is false when the
// download stopped (or failed) first.
func (e *engine) hashPass() (sum [32]byte, ok bool) {
	h := sha256.New()
	var own []byte
	for i := 0; i < e.n; {
		e.mu.Lock()
		e.hashNext = i
		for !e.stopped && (e.st[i] != done || e.hashes == nil) {
			e.cond.Wait()
		}
		if e.stopped {
			e.mu.Unlock()
			return sum, false
		}
		buf, inMemory := e.held[i]
		delete(e.held, i)
		check := e.unchecked.has(i)
		want := e.hashes[i]
		e.mu.Unlock()

		off, n := e.bounds(i)
		if !inMemory {
			if own == nil {
				own = make([]byte, e.psize)
			}
			buf = own[:n]
			if _, err := e.f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
				e.fail(fmt.Errorf("read back %s: %w", e.dir.path(e.dir.partial), err))
				return sum, false
			}
			if check {
				ok := sha256.Sum256(buf) == want
				e.mu.Lock()
				e.unchecked.clear(i)
				if !ok {
					// Damaged on disk since an earlier run: fetch again.
					e.st[i] = missing
					e.ndone--
					e.doneBytes -= n
					e.resumedBytes -= n
					e.resumedPieces--
					e.committed.clear(i)
					e.nmissing++
					e.cursor = min(e.cursor, i)
					e.cond.Broadcast()
				}
				e.mu.Unlock()
				if !ok {
					continue
				}
			}
		}
		h.Write(buf[:n])
		if inMemory {
			e.putBuf(buf)
		}
		i++
	}
	h.Sum(sum[:0])
	return sum, true
}
