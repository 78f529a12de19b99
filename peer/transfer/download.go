package transfer

import (
	"context"
	"fmt"
	"os"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/index"
)

// Range asks for bytes [Offset, Offset+Length) of one file.
type Range struct {
	// Target is the file.
	Target Target
	// Offset is the first byte to send.
	Offset int64
	// Length is how many bytes to send; zero means up to the end. A range
	// past the end is cut at the end.
	Length int64
}

// SendFunc receives one chunk of a download: data are the bytes at offset.
// data is only valid during the call (its buffer is reused), so SendFunc
// must encode or copy it before returning.
type SendFunc func(offset int64, data []byte) error

// Download streams the range r asks for to send, in order, in chunks of at
// most ChunkSize bytes that never cross a piece boundary, at the rate
// MaxRate allows. It serves the first of the file's names whose size and
// modification time on disk still match the index, and reads it a whole
// piece at a time: each piece is checked against its indexed hash before
// any byte of it is sent (readPiece), so a file changed since it was
// indexed ends the download with ErrChanged, never with other bytes. An
// empty range sends nothing.
//
// It waits for a transfer slot first (see Options.MaxQueue).
// Errors: ErrInvalid, ErrNotFound, ErrChanged, ErrOutOfRange, ErrBusy, ctx's
// error, send's error (returned as is), or a read error.
func (s *Service) Download(ctx context.Context, r Range, send SendFunc) (err error) {
	if r.Offset < 0 || r.Length < 0 {
		return fmt.Errorf("%w: negative offset or length", ErrInvalid)
	}
	es, err := s.resolve(r.Target)
	if err != nil {
		return err
	}
	size := es[0].Size
	if r.Offset > size {
		return fmt.Errorf("%w: offset %d, size %d", ErrOutOfRange, r.Offset, size)
	}
	end := size
	if r.Length > 0 && r.Length < size-r.Offset {
		end = r.Offset + r.Length
	}

	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()

	f, e, err := s.openIndexed(es)
	if err != nil {
		return fmt.Errorf("%v: %w", r.Target, err)
	}
	defer f.Close()
	if r.Offset == end {
		return nil
	}
	tr, done := s.activity.start(ctx, Sending, e.Name, e.SHA256, end-r.Offset)
	defer func() { done(err) }()

	bp := s.buffers.get()
	defer s.buffers.put(bp)
	for pos := r.Offset; pos < end; {
		i := int(pos / pieces.Size)
		start := int64(i) * pieces.Size
		data, err := s.readPiece(f, e, i, *bp)
		if err != nil {
			return fmt.Errorf("%v: %w", r.Target, err)
		}
		data = data[pos-start : min(int64(len(data)), end-start)]
		for len(data) > 0 {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			n := min(len(data), s.chunkSize)
			if err := s.throttle(ctx, n); err != nil {
				return err
			}
			if err := send(pos, data[:n]); err != nil {
				return err
			}
			tr.done.Add(int64(n))
			pos += int64(n)
			data = data[n:]
		}
	}
	return nil
}

// throttle waits until the rate limit lets n more bytes out (n at most
// ChunkSize, the limiter's burst); at once when there is no limit.
// Errors: ctx's cause, or DeadlineExceeded when the wait would outlast
// ctx's deadline.
func (s *Service) throttle(ctx context.Context, n int) error {
	if s.limiter == nil {
		return nil
	}
	if err := s.limiter.WaitN(ctx, n); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		// WaitN refuses up front when the wait would outlast ctx's
		// deadline.
		return fmt.Errorf("rate limit: %w", context.DeadlineExceeded)
	}
	return nil
}

// openIndexed opens the first of es that is still on disk as indexed: a
// regular file of the recorded size and modification time, and returns it
// with its entry. Each name found changed is reported to the catalog
// (Catalog.Reindex), so it is no longer offered under that content.
// Errors: ErrChanged.
func (s *Service) openIndexed(es []index.Entry) (*os.File, index.Entry, error) {
	var why error
	for _, e := range es {
		f, err := s.openEntry(e)
		if err == nil {
			return f, e, nil
		}
		why = s.changed(e, err)
	}
	return nil, index.Entry{}, why
}

func (s *Service) openEntry(e index.Entry) (*os.File, error) {
	// The index only holds names that pass Check; checking again keeps
	// this package safe over any Catalog.
	if err := sharepath.Check(e.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChanged, err)
	}
	f, err := s.root.Open(e.Name)
	if err != nil {
		// Gone, or (for a name through a link) now outside the share.
		return nil, fmt.Errorf("%w: %w", ErrChanged, err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrChanged, err)
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%w: %q is no longer a regular file", ErrChanged, e.Name)
	case fi.Size() != e.Size:
		err = fmt.Errorf("%w: %q is %d bytes, indexed as %d", ErrChanged, e.Name, fi.Size(), e.Size)
	case !e.ModTime.IsZero() && !fi.ModTime().Equal(e.ModTime):
		err = fmt.Errorf("%w: %q modified at %v, indexed at %v", ErrChanged, e.Name, fi.ModTime(), e.ModTime)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
