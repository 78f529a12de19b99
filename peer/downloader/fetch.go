package downloader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/peer/transferapi"
)

// runSource checks what source s has, then fetches pieces from it until the
// download ends or s is dropped.
func (e *engine) runSource(ctx context.Context, s *source) {
	defer s.cancel(nil)
	hc, err := e.clientFor(s.Source)
	if err != nil {
		e.mu.Lock()
		e.dropLocked(s, err)
		e.mu.Unlock()
		return
	}
	client := peerv1connect.NewPeerServiceClient(hc, s.Address, e.clientOptions(s)...)
	for {
		sctx, cancel := context.WithTimeoutCause(ctx, e.o.StallTimeout, ErrStalled)
		err := e.stat(sctx, s, client)
		if err != nil && errors.Is(context.Cause(sctx), ErrStalled) && ctx.Err() == nil {
			err = fmt.Errorf("%w: no answer to stat in %v", ErrStalled, e.o.StallTimeout)
		}
		cancel()
		if err == nil {
			break
		}
		if !e.failed(ctx, s, err) {
			return
		}
	}
	var wg sync.WaitGroup
	e.mu.Lock()
	s.streams = (e.o.PiecesPerSource + e.o.PiecesPerRequest - 1) / e.o.PiecesPerRequest
	e.mu.Unlock()
	for k := 0; k < e.o.PiecesPerSource; k += e.o.PiecesPerRequest {
		run := min(e.o.PiecesPerRequest, e.o.PiecesPerSource-k)
		wg.Go(func() { e.stream(ctx, s, client, run) })
	}
	wg.Wait()
}

// stat asks s for the piece list and checks it against the target.
func (e *engine) stat(ctx context.Context, s *source, client peerv1connect.PeerServiceClient) error {
	res, err := client.Stat(ctx, connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Sha256{Sha256: e.t.SHA256}}))
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	m := res.Msg
	switch {
	case m.GetSha256() != e.t.SHA256:
		return fmt.Errorf("%w: sha256 %s", ErrBadSource, m.GetSha256())
	case m.GetSize() != e.t.Size:
		return fmt.Errorf("%w: %d bytes, announced %d", ErrBadSource, m.GetSize(), e.t.Size)
	case int64(m.GetPieceSize()) != e.psize:
		return fmt.Errorf("%w: piece size %d, announced %d", ErrBadSource, m.GetPieceSize(), e.psize)
	case len(m.GetPieceHashes()) != e.n:
		return fmt.Errorf("%w: %d piece hashes for %d pieces", ErrBadSource, len(m.GetPieceHashes()), e.n)
	}
	hs := make([][32]byte, e.n)
	for i, b := range m.GetPieceHashes() {
		if hs[i], err = pieces.FromBytes(b); err != nil {
			return fmt.Errorf("%w: piece %d: %w", ErrBadSource, i, err)
		}
	}
	// The root is computed here, not taken from the answer: it is what
	// ties the piece list to what the directory announced.
	root := pieces.Root(hs)
	if e.t.PieceRoot != "" && pieces.Hex(root) != e.t.PieceRoot {
		return fmt.Errorf("%w: its piece list hashes to %s, announced %s", ErrBadSource, pieces.Hex(root), e.t.PieceRoot)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hashes == nil {
		e.hashes, e.root = hs, root
		e.cond.Broadcast()
	} else if root != e.root {
		return fmt.Errorf("%w: its piece list differs from another source's", ErrBadSource)
	}
	s.statted = true
	return nil
}

// stream fetches runs of up to run pieces from s, one Download call at a
// time, until the download ends or s is dropped.
func (e *engine) stream(ctx context.Context, s *source, client peerv1connect.PeerServiceClient, run int) {
	yielded := false
	defer func() {
		if !yielded {
			e.mu.Lock()
			s.streams--
			e.mu.Unlock()
		}
	}()
	for {
		first, count, dup, ok := e.claim(ctx, s, run)
		if !ok {
			return
		}
		err := e.fetch(ctx, s, client, first, count, dup)
		if err != nil && e.yieldBusy(s, err) {
			yielded = true
			return
		}
		if err != nil && !errors.Is(err, errDuplicate) && !e.failed(ctx, s, err) {
			return
		}
	}
}

// errDuplicate stops an endgame fetch whose piece arrived from another
// source first; it is not the source's failure.
var errDuplicate = errors.New("piece arrived from another source")

// fetch downloads pieces [first, first+count) from s in one Download call
// and hands each to the verifiers as soon as it is whole. Pieces not
// received whole go back to the queue. A duplicate fetch (dup, see claim)
// stops as soon as its piece arrived from elsewhere.
func (e *engine) fetch(ctx context.Context, s *source, client peerv1connect.PeerServiceClient, first, count int, dup bool) error {
	off, _ := e.bounds(first)
	lastOff, lastLen := e.bounds(first + count - 1)
	length := lastOff + lastLen - off

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(e.o.StallTimeout, func() { cancel(ErrStalled) })
	defer stall.Stop()

	cur, end := first, first+count
	var buf []byte
	var filled int64
	_, curLen := e.bounds(cur)
	req := &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Sha256{Sha256: e.t.SHA256}, Offset: off, Length: length}
	_, err := transferapi.Fetch(sctx, client, req, func(_ int64, data []byte) error {
		stall.Reset(e.o.StallTimeout)
		if dup {
			e.mu.Lock()
			gone := e.st[cur] != assigned
			e.mu.Unlock()
			if gone {
				return errDuplicate
			}
		}
		// Fetch checked that data continues the range and stays inside it.
		for len(data) > 0 {
			if buf == nil {
				buf = e.getBuf()
			}
			k := copy(buf[filled:curLen], data)
			filled += int64(k)
			data = data[k:]
			if filled == curLen {
				e.handoff(received{i: cur, buf: buf[:curLen], src: s})
				buf, filled = nil, 0
				if cur++; cur < end {
					_, curLen = e.bounds(cur)
				}
			}
		}
		return nil
	})
	if buf != nil {
		e.putBuf(buf)
	}
	if err == nil && cur < end {
		err = fmt.Errorf("%w: stream ended %d bytes short of the range asked for", transferapi.ErrBadStream, length-(int64(cur-first)*e.psize+filled))
	}
	if err == nil {
		return nil
	}
	e.mu.Lock()
	for i := cur; i < end; i++ {
		e.releaseLocked(i)
	}
	e.mu.Unlock()
	if errors.Is(err, errDuplicate) {
		return errDuplicate
	}
	if errors.Is(context.Cause(sctx), ErrStalled) && ctx.Err() == nil {
		return fmt.Errorf("%w: nothing received for %v", ErrStalled, e.o.StallTimeout)
	}
	return fmt.Errorf("download: %w", err)
}

// handoff queues a whole piece for verification (or, see checkEach, for
// writing unchecked), unless another copy of it
// arrived first (endgame) or its source is banned: nothing more is taken
// from a source once one of its pieces failed.
func (e *engine) handoff(r received) {
	e.mu.Lock()
	e.owners[r.i]--
	if r.src.dropped {
		if e.owners[r.i] == 0 && e.st[r.i] == assigned {
			e.requeueLocked(r.i)
		}
		e.mu.Unlock()
		e.putBuf(r.buf)
		return
	}
	first := e.st[r.i] == assigned
	if first {
		e.st[r.i] = verifying
		e.nverifying++
		r.check = e.checkEach()
	}
	e.mu.Unlock()
	if !first {
		e.putBuf(r.buf)
		return
	}
	e.verifyQ <- r
}
