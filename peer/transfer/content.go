package transfer

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/peer/index"
)

// Content is one shared file opened for a plain HTTP download (a peer's
// /files route): an io.ReadSeeker for http.ServeContent that reads through
// the shared folder's *os.Root at the rate MaxRate allows, while it holds
// a transfer slot of its caller. Close it to free the slot.
type Content struct {
	// SHA256 is the content's SHA-256, 64 lowercase hex digits.
	SHA256 string
	// Name is the base name of the file it is read from.
	Name string
	// Size is its length in bytes.
	Size int64
	// Modified is its modification time as indexed.
	Modified time.Time

	s   *Service
	ctx context.Context
	f   *os.File
	e   index.Entry
	pos int64
	// buf holds piece number piece (-1: none yet), verified, in data.
	buf     *[]byte
	piece   int
	data    []byte
	release func()
	// tracked and end show the download in Status and log it when it
	// closes, as a Download's are.
	tracked *tracked
	end     func(error)
	err     error // the last read error, logged at Close
}

// Open opens the content of SHA-256 sha for a plain HTTP download, taking a
// transfer slot for ctx's Caller first (waiting in the queue as Download
// does), so such downloads count against the same slots, per-caller caps
// and rate as every other. Reads wait for the rate limiter in chunks of at
// most ChunkSize bytes and end with ctx.
// Errors: ErrInvalid, ErrNotFound, ErrChanged, ErrBusy, ctx's error.
func (s *Service) Open(ctx context.Context, sha string) (*Content, error) {
	es, err := s.resolve(Target{SHA256: sha})
	if err != nil {
		return nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	f, e, err := s.openIndexed(es)
	if err != nil {
		release()
		return nil, fmt.Errorf("sha256 %s: %w", sha, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		release()
		return nil, fmt.Errorf("sha256 %s: %w", sha, err)
	}
	// openIndexed checked it is the indexed file: its size and time are
	// the entry's.
	c := &Content{
		SHA256: sha, Name: fi.Name(), Size: fi.Size(), Modified: fi.ModTime(),
		s: s, ctx: ctx, f: f, e: e, buf: s.buffers.get(), piece: -1, release: release,
	}
	c.tracked, c.end = s.activity.start(ctx, Sending, e.Name, e.SHA256, fi.Size())
	return c, nil
}

// Read reads the next bytes, at most ChunkSize at a time and never across
// a piece boundary, after waiting for the rate limiter. Each piece is read
// whole and checked against its indexed hash before any byte of it is
// returned (see readPiece): a file changed since it was indexed reads as
// ErrChanged, never as other bytes.
func (c *Content) Read(p []byte) (int, error) {
	if c.pos >= c.Size {
		return 0, io.EOF
	}
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	i := int(c.pos / pieces.Size)
	if i != c.piece {
		data, err := c.s.readPiece(c.f, c.e, i, *c.buf)
		if err != nil {
			c.err = err
			return 0, err
		}
		c.piece, c.data = i, data
	}
	off := int(c.pos - int64(i)*pieces.Size)
	n := min(len(p), c.s.chunkSize, len(c.data)-off)
	if err := c.s.throttle(c.ctx, n); err != nil {
		return 0, err
	}
	copy(p, c.data[off:off+n])
	c.pos += int64(n)
	c.tracked.done.Add(int64(n))
	return n, nil
}

// Seek sets where the next Read starts, within the indexed size.
func (c *Content) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.pos
	case io.SeekEnd:
		offset += c.Size
	default:
		return 0, fmt.Errorf("%w: seek whence %d", ErrInvalid, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: seek to %d", ErrInvalid, offset)
	}
	c.pos = offset
	return offset, nil
}

// Close closes the file and frees the transfer slot.
func (c *Content) Close() error {
	if c.release == nil {
		return nil
	}
	c.release()
	c.release = nil
	c.s.buffers.put(c.buf)
	c.buf, c.data = nil, nil
	c.end(c.err)
	return c.f.Close()
}
