package downloader

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// Hashing every byte once. The whole-content SHA-256 (hash.go) is what
// binds the bytes to the SHA-256 the user asked for, so it is always
// computed; the piece hashes only say early which piece (and so which
// source) is bad. With one source there is nobody else to fetch a bad
// piece from, so finding it early buys nothing on the common, honest path
// and costs a second SHA-256 of every byte: pieces are then written
// unchecked, and only when the whole content fails its SHA-256 does locate
// read them back and check each against its hash. The source of a bad one
// is banned (ErrBadPiece, as if caught on arrival), its pieces go back in
// the queue, and the content is hashed again once they are fetched. A
// source caught that way costs, at the end of the download, one read and
// hash of the unchecked pieces, the re-fetch of its bad ones and one more
// pass of the whole-content hash; with no other source the download fails
// with ErrNoSources and keeps the good pieces. No success is ever reported
// for bytes that do not hash to the SHA-256 asked for.

// checkEach reports whether a piece that just arrived is checked against
// its hash before it is written: when more than one source is live (a bad
// piece then bans its source at once, and the others fetch the rest), and
// for the rest of a download in which locate found a bad piece. Called with
// e.mu held.
func (e *engine) checkEach() bool {
	return e.live > 1 || e.located
}

// locate checks every piece written unchecked against its hash, reading it
// back from the partial file; it bans the source of each bad one and puts
// the piece back in the queue. It returns how many were bad. Called by the
// hasher once every piece is done and the content failed its SHA-256, so
// no piece it reads is being written.
func (e *engine) locate() (bad int, err error) {
	e.mu.Lock()
	var todo []int
	for i := range e.n {
		if e.lazy.has(i) {
			todo = append(todo, i)
		}
	}
	want := e.hashes
	e.mu.Unlock()
	buf := make([]byte, e.psize)
	for _, i := range todo {
		off, n := e.bounds(i)
		if _, err := e.f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return bad, fmt.Errorf("read back %s: %w", e.dir.path(e.dir.partial), err)
		}
		ok := sha256.Sum256(buf[:n]) == want[i]
		e.mu.Lock()
		e.lazy.clear(i)
		if !ok {
			bad++
			e.undoLocked(i, n)
		}
		e.mu.Unlock()
	}
	if bad > 0 {
		e.mu.Lock()
		e.located = true
		e.cond.Broadcast()
		e.mu.Unlock()
	}
	return bad, nil
}

// undoLocked takes back piece i, of n bytes, written unchecked and found
// bad: its source is banned and no longer credited with it, and the piece
// goes back in the queue.
func (e *engine) undoLocked(i int, n int64) {
	s := e.from[i]
	e.from[i] = nil
	s.pieces--
	s.bytes -= n
	err := fmt.Errorf("%w: piece %d (found once the whole file failed its sha256)", ErrBadPiece, i)
	e.dropLocked(s, err)
	if !errors.Is(s.err, ErrBadPiece) {
		// Dropped earlier for another reason (a stall): it is a liar
		// all the same, to be banned by Get too.
		s.err = err
	}
	e.ndone--
	e.doneBytes -= n
	e.fetchedBytes -= n
	e.fetchedPieces--
	e.committed.clear(i)
	e.requeueLocked(i)
}
