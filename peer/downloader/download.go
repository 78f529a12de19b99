package downloader

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/peer/transferapi"
)

// holdPieces is how many verified pieces ahead of the whole-content hasher
// are kept in memory for it (in pieces): a download arriving roughly in
// order is hashed from memory, while pieces far ahead (out of order from a
// slow source) are read back from the page cache instead of piling up.
const holdPieces = 16

// freePieces is how many idle piece buffers are kept for reuse (in pieces).
const freePieces = 64

// Download fetches target from sources into opts.Dest and returns what it
// did. It resumes the partial file a previous call left, fetching only the
// pieces missing. See the package documentation for what it verifies.
//
// Every source is asked for the piece list (Stat), then serves pieces from a
// shared queue: each keeps up to PiecesPerSource in flight, asking for runs
// of PiecesPerRequest consecutive ones, so a faster source takes more. A
// source that fails is retried with backoff and dropped after MaxRetries
// failures in a row; one that sends a bad piece or describes another
// content is dropped at once. A failure costs only the pieces in flight at
// that source, which go back to the queue; a source that sends nothing for
// StallTimeout counts as failed. Once no piece is left in the queue, idle
// sources fetch the pieces still in flight elsewhere a second time and the
// first copy wins, so a slow source does not hold up the end.
//
// The Result is non-nil whenever the partial file could be opened, also on
// error. Errors: ErrExists, ErrNoSources (the partial file is kept),
// ErrMismatch, ctx's cause (the partial file is kept), or an I/O error.
func Download(ctx context.Context, target Target, sources []Source, opts Options) (*Result, error) {
	e, err := newEngine(target, sources, opts)
	if err != nil {
		return nil, err
	}
	return e.run(ctx)
}

// pieceState is where a piece is in its life.
type pieceState uint8

const (
	missing   pieceState = iota // in the queue
	assigned                    // asked for from a source
	verifying                   // received, queued for verification
	done                        // verified and written
)

// received is a piece that arrived whole, on its way to a verifier.
type received struct {
	i   int
	buf []byte
	src *source
}

// source is one source's state during a download.
type source struct {
	Source
	cancel context.CancelCauseFunc

	// Guarded by engine.mu.
	pieces  int
	bytes   int64
	fails   int // failures since the last piece it delivered
	statted bool
	dropped bool
	err     error
}

// engine is one Download call.
type engine struct {
	t       Target
	o       Options
	http    *http.Client
	ownHTTP bool // http was made for this download: close its connections after
	copts   []connect.ClientOption
	n       int   // pieces
	psize   int64 // piece size in bytes
	partial string
	state   string
	f       *os.File
	start   time.Time
	verifyQ chan received

	freeMu sync.Mutex
	free   [][]byte

	mu   sync.Mutex
	cond *sync.Cond
	// Everything below is guarded by mu.
	srcs          []*source
	live          int // sources not dropped
	st            []pieceState
	owners        []uint8   // streams fetching each piece: 2 in the endgame
	owner         []*source // the source that first claimed each piece
	unchecked     bitmap    // resumed pieces the hasher has not verified yet
	cursor        int       // no missing piece below it
	nmissing      int
	nverifying    int
	ndone         int
	doneBytes     int64
	fetchedBytes  int64
	fetchedPieces int
	resumedBytes  int64
	resumedPieces int
	hashes        [][32]byte // nil until a source's piece list is accepted
	root          [32]byte
	held          map[int][]byte
	hashNext      int
	whole         *[32]byte // set once the hasher is through
	fatal         error
	stopped       bool
	committed     bitmap
}

func newEngine(t Target, sources []Source, o Options) (*engine, error) {
	if !pieces.IsHex(t.SHA256) {
		return nil, fmt.Errorf("download: sha256 %q: want 64 lowercase hex digits", t.SHA256)
	}
	if t.Size < 0 {
		return nil, fmt.Errorf("download: negative size %d", t.Size)
	}
	if o.Dest == "" {
		return nil, errors.New("download: no destination given")
	}
	if t.PieceSize == 0 {
		t.PieceSize = pieces.Size
	}
	if t.PieceSize < 1 || t.PieceSize > 1<<24 {
		return nil, fmt.Errorf("download: piece size %d out of range", t.PieceSize)
	}
	o.PiecesPerSource = cmp.Or(max(o.PiecesPerSource, 0), DefaultPiecesPerSource)
	o.PiecesPerRequest = min(cmp.Or(max(o.PiecesPerRequest, 0), DefaultPiecesPerRequest), o.PiecesPerSource)
	o.StallTimeout = cmp.Or(max(o.StallTimeout, 0), DefaultStallTimeout)
	o.MaxRetries = cmp.Or(max(o.MaxRetries, 0), DefaultMaxRetries)
	o.RetryDelay = cmp.Or(max(o.RetryDelay, 0), DefaultRetryDelay)
	o.CommitInterval = cmp.Or(max(o.CommitInterval, 0), DefaultCommitInterval)
	o.ProgressInterval = cmp.Or(max(o.ProgressInterval, 0), DefaultProgressInterval)
	if o.Token == nil {
		o.Token = new(rpcclient.Token)
	}
	hc, own := o.HTTPClient, false
	if hc == nil {
		hc, own = rpcclient.NewHTTPClient(), true
	}
	n := int((t.Size + t.PieceSize - 1) / t.PieceSize)
	e := &engine{
		t:       t,
		o:       o,
		http:    hc,
		ownHTTP: own,
		copts:   rpcclient.Options(o.Token, append([]connect.ClientOption{rpcclient.NoCompression()}, o.ClientOptions...)...),
		n:       n,
		psize:   t.PieceSize,
		partial: partialPath(o.Dest),
		state:   statePath(o.Dest),
		verifyQ: make(chan received, runtime.GOMAXPROCS(0)),
		st:      make([]pieceState, n),
		owners:  make([]uint8, n),
		owner:   make([]*source, n),
		held:    map[int][]byte{},
	}
	e.cond = sync.NewCond(&e.mu)
	seen := map[string]bool{}
	for _, s := range sources {
		if s.Address == "" || seen[s.Address] {
			continue
		}
		seen[s.Address] = true
		e.srcs = append(e.srcs, &source{Source: s})
	}
	e.live = len(e.srcs)
	return e, nil
}

// bounds returns the offset and length of piece i.
func (e *engine) bounds(i int) (off, n int64) {
	off = int64(i) * e.psize
	return off, min(e.psize, e.t.Size-off)
}

// getBuf returns a piece buffer of e.psize bytes.
func (e *engine) getBuf() []byte {
	e.freeMu.Lock()
	defer e.freeMu.Unlock()
	if k := len(e.free); k > 0 {
		b := e.free[k-1]
		e.free = e.free[:k-1]
		return b
	}
	return make([]byte, e.psize)
}

// putBuf gives a piece buffer back.
func (e *engine) putBuf(b []byte) {
	e.freeMu.Lock()
	defer e.freeMu.Unlock()
	if len(e.free) < freePieces {
		e.free = append(e.free, b[:cap(b)])
	}
}

// open checks the destination and opens the partial file, resuming it when
// its state file describes the same content and the file has the right
// size; otherwise it starts over.
func (e *engine) open() error {
	if !e.o.Force {
		if _, err := os.Lstat(e.o.Dest); err == nil {
			return fmt.Errorf("%s: %w (use force to replace it)", e.o.Dest, ErrExists)
		}
	}
	if fi, err := os.Stat(e.o.Dest); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %w and is a folder", e.o.Dest, ErrExists)
	}
	st, err := loadState(e.state)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(e.partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open partial file: %w", err)
	}
	e.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open partial file: %w", err)
	}
	e.unchecked = newBitmap(e.n)
	e.committed = newBitmap(e.n)
	resume := st != nil && st.Version == stateVersion && st.SHA256 == e.t.SHA256 &&
		st.Size == e.t.Size && st.PieceSize == e.psize && fi.Size() == e.t.Size &&
		(e.t.PieceRoot == "" || st.PieceRoot == "" || st.PieceRoot == e.t.PieceRoot) &&
		bitmap(st.Done).fits(e.n)
	if resume {
		have := bitmap(st.Done)
		for i := range e.n {
			if have.has(i) {
				_, n := e.bounds(i)
				e.st[i] = done
				e.unchecked.set(i)
				e.committed.set(i)
				e.ndone++
				e.doneBytes += n
				e.resumedPieces++
				e.resumedBytes += n
			}
		}
	} else {
		// Stale or foreign: start over, at full size so that pieces can
		// be written at their offsets in any order.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("reset partial file: %w", err)
		}
		if err := preallocate(f, e.t.Size); err != nil {
			return fmt.Errorf("reserve %d bytes for %s: %w", e.t.Size, e.partial, err)
		}
		os.Remove(e.state)
	}
	e.nmissing = e.n - e.ndone
	return nil
}

// run is Download once the engine is set up.
func (e *engine) run(ctx context.Context) (*Result, error) {
	e.start = time.Now()
	if err := e.open(); err != nil {
		if e.f != nil {
			e.f.Close()
		}
		return nil, err
	}

	work, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Waiters on cond must notice a cancelled context.
	stopWake := context.AfterFunc(work, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stopWake()

	var srcWG, verWG, bgWG sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		verWG.Go(e.verify)
	}
	bgWG.Go(e.hash)
	commitStop := make(chan struct{})
	bgWG.Go(func() { e.commitLoop(commitStop) })
	progStop := make(chan struct{})
	var progWG sync.WaitGroup
	rate := newRateMeter()
	if e.o.Progress != nil {
		progWG.Go(func() { e.progressLoop(progStop, rate) })
	}
	for _, s := range e.srcs {
		sctx, scancel := context.WithCancelCause(work)
		s.cancel = scancel
		srcWG.Go(func() { e.runSource(sctx, s) })
	}

	err := e.wait(work)

	e.mu.Lock()
	e.stopped = true
	e.cond.Broadcast()
	e.mu.Unlock()
	cancel(errStopping)
	srcWG.Wait()
	close(e.verifyQ)
	verWG.Wait()
	close(commitStop)
	bgWG.Wait()
	close(progStop)
	progWG.Wait()
	if e.ownHTTP {
		e.http.CloseIdleConnections()
	}

	if err == nil {
		err = e.finish()
	} else {
		err = e.keep(err)
	}
	res := e.result()
	if e.o.Progress != nil {
		p := e.progress(rate)
		p.Final = true
		e.o.Progress(p)
	}
	return res, err
}

// errStopping cancels the work of a download that is ending.
var errStopping = errors.New("download ending")

// wait blocks until the download is complete (every piece verified and the
// whole content hashed) or cannot go on.
func (e *engine) wait(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		switch {
		case e.fatal != nil:
			return e.fatal
		case e.whole != nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("download interrupted: %w", context.Cause(ctx))
		case e.live == 0 && e.n > 0 && (e.hashes == nil || e.nverifying == 0 && e.ndone < e.n):
			// Nothing can fetch the missing pieces, nor confirm the
			// resumed ones without a source's piece list.
			return e.noSourcesLocked()
		}
		e.cond.Wait()
	}
}

// noSourcesLocked is ErrNoSources with what happened to each source.
func (e *engine) noSourcesLocked() error {
	var why []string
	for _, s := range e.srcs {
		if s.err != nil {
			why = append(why, fmt.Sprintf("%s: %v", s, s.err))
		}
	}
	msg := fmt.Sprintf("%d of %d pieces missing", e.n-e.ndone, e.n)
	if e.ndone == e.n {
		msg = "every piece is on disk, but no source is left to confirm their hashes"
	}
	if len(e.srcs) == 0 {
		msg += "; no online peer has it"
	}
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	return fmt.Errorf("%w (%s)", ErrNoSources, msg)
}

// finish checks the whole content and moves the partial file to its
// destination.
func (e *engine) finish() error {
	if got := pieces.Hex(*e.whole); got != e.t.SHA256 {
		e.f.Close()
		os.Remove(e.partial)
		os.Remove(e.state)
		return fmt.Errorf("%w: every piece verified, but the content hashes to %s, not %s", ErrMismatch, got, e.t.SHA256)
	}
	if !e.o.Force {
		// Checked at the start too; this narrows the window in which a
		// file created meanwhile would be replaced.
		if _, err := os.Lstat(e.o.Dest); err == nil {
			return e.keep(fmt.Errorf("%s: %w (the complete download is kept in %s)", e.o.Dest, ErrExists, e.partial))
		}
	}
	if err := e.f.Sync(); err != nil {
		e.f.Close()
		return fmt.Errorf("sync %s: %w", e.partial, err)
	}
	if err := e.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", e.partial, err)
	}
	if err := os.Rename(e.partial, e.o.Dest); err != nil {
		return fmt.Errorf("move download into place: %w", err)
	}
	os.Remove(e.state)
	syncDir(filepath.Dir(e.o.Dest))
	return nil
}

// keep records what is on disk after a failure, so that the next call
// resumes it; with nothing on disk it removes the partial file instead.
func (e *engine) keep(err error) error {
	e.mu.Lock()
	ndone := e.ndone
	e.mu.Unlock()
	if ndone == 0 {
		e.f.Close()
		os.Remove(e.partial)
		os.Remove(e.state)
		return err
	}
	cerr := e.commit()
	e.f.Close()
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// result reports the download.
func (e *engine) result() *Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &Result{
		SHA256:        e.t.SHA256,
		Size:          e.t.Size,
		Pieces:        e.n,
		FetchedBytes:  e.fetchedBytes,
		FetchedPieces: e.fetchedPieces,
		ResumedBytes:  e.resumedBytes,
		ResumedPieces: e.resumedPieces,
		Elapsed:       time.Since(e.start),
	}
	if _, err := os.Stat(e.partial); err == nil {
		r.Path = e.partial
	} else if e.whole != nil {
		r.Path = e.o.Dest
	}
	for _, s := range e.srcs {
		r.Sources = append(r.Sources, SourceResult{Source: s.Source, Pieces: s.pieces, Bytes: s.bytes, Dropped: s.dropped, Err: s.err})
	}
	return r
}

// runSource checks what source s has, then fetches pieces from it until the
// download ends or s is dropped.
func (e *engine) runSource(ctx context.Context, s *source) {
	defer s.cancel(nil)
	client := peerv1connect.NewPeerServiceClient(e.http, s.Address, e.copts...)
	for {
		sctx, cancel := context.WithTimeout(ctx, e.o.StallTimeout)
		err := e.stat(sctx, s, client)
		cancel()
		if err == nil {
			break
		}
		if !e.failed(ctx, s, err) {
			return
		}
	}
	var wg sync.WaitGroup
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
	for {
		first, count, dup, ok := e.claim(ctx, s, run)
		if !ok {
			return
		}
		err := e.fetch(ctx, s, client, first, count, dup)
		if err != nil && !errors.Is(err, errDuplicate) && !e.failed(ctx, s, err) {
			return
		}
	}
}

// claim takes work for a stream of source s: the first run of up to max
// consecutive missing pieces off the queue or, once none is missing (the
// endgame), one piece another source is still fetching, to fetch it a second
// time (dup): whichever copy arrives first is kept, so a slow source cannot
// hold up the end of a download. It waits while there is neither, until the
// download ends: pieces in flight elsewhere may still come back.
func (e *engine) claim(ctx context.Context, s *source, max int) (first, count int, dup, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if e.stopped || ctx.Err() != nil {
			return 0, 0, false, false
		}
		if e.nmissing > 0 {
			i := e.cursor
			for e.st[i] != missing {
				i++
			}
			for j := i; j < e.n && count < max && e.st[j] == missing; j++ {
				e.st[j] = assigned
				e.owners[j] = 1
				e.owner[j] = s
				count++
			}
			e.nmissing -= count
			e.cursor = i + count
			return i, count, false, true
		}
		// Everything below hashNext is done already.
		for i := e.hashNext; i < e.n; i++ {
			if e.st[i] == assigned && e.owners[i] == 1 && e.owner[i] != s {
				e.owners[i]++
				return i, 1, true, true
			}
		}
		e.cond.Wait()
	}
}

// releaseLocked records that a stream no longer fetches piece i, which it
// did not deliver: the piece goes back in the queue unless another stream
// still fetches it or it arrived meanwhile.
func (e *engine) releaseLocked(i int) {
	e.owners[i]--
	if e.owners[i] == 0 && e.st[i] == assigned {
		e.requeueLocked(i)
	}
}

// requeueLocked puts piece i back in the queue.
func (e *engine) requeueLocked(i int) {
	e.st[i] = missing
	e.nmissing++
	e.cursor = min(e.cursor, i)
	e.cond.Broadcast()
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

// handoff queues a whole piece for verification, unless another copy of it
// arrived first (endgame).
func (e *engine) handoff(r received) {
	e.mu.Lock()
	e.owners[r.i]--
	first := e.st[r.i] == assigned
	if first {
		e.st[r.i] = verifying
		e.nverifying++
	}
	e.mu.Unlock()
	if !first {
		e.putBuf(r.buf)
		return
	}
	e.verifyQ <- r
}

// failed records a failure of s and waits before its next attempt. It
// reports whether s should go on: false once s is dropped (at once for a
// failure that retrying cannot mend) or the download is ending.
func (e *engine) failed(ctx context.Context, s *source, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	e.mu.Lock()
	s.err = err
	s.fails++
	if permanent(err) || s.fails > e.o.MaxRetries {
		e.dropLocked(s, err)
		e.mu.Unlock()
		return false
	}
	delay := min(e.o.RetryDelay<<(s.fails-1), MaxRetryDelay)
	e.mu.Unlock()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropLocked gives up on s for this download.
func (e *engine) dropLocked(s *source, err error) {
	if s.dropped {
		return
	}
	s.dropped = true
	s.err = err
	e.live--
	s.cancel(err)
	e.cond.Broadcast()
}

// permanent reports whether a source's failure is one that retrying the
// same source cannot mend.
func permanent(err error) bool {
	if errors.Is(err, ErrBadPiece) || errors.Is(err, ErrBadSource) {
		return true
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code() {
	case connect.CodeNotFound, connect.CodeOutOfRange, connect.CodeInvalidArgument,
		connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeUnimplemented,
		connect.CodeFailedPrecondition, connect.CodeDataLoss:
		return true
	}
	return false
}

// unverifiedLocked returns piece i, whose copy was rejected, to a stream
// still fetching another copy (endgame), else to the queue.
func (e *engine) unverifiedLocked(i int) {
	if e.owners[i] > 0 {
		e.st[i] = assigned
		e.cond.Broadcast()
		return
	}
	e.requeueLocked(i)
}

// verify checks the pieces that arrive against their hashes and writes the
// good ones at their offsets; it runs on several goroutines, beside the
// streams that receive.
func (e *engine) verify() {
	for r := range e.verifyQ {
		e.mu.Lock()
		want := e.hashes[r.i]
		e.mu.Unlock()
		if sha256.Sum256(r.buf) != want {
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
			if e.fatal == nil {
				e.fatal = fmt.Errorf("write %s: %w", e.partial, err)
			}
			e.cond.Broadcast()
			e.mu.Unlock()
			continue
		}
		e.mu.Lock()
		e.nverifying--
		e.st[r.i] = done
		e.ndone++
		e.doneBytes += n
		e.fetchedBytes += n
		e.fetchedPieces++
		r.src.pieces++
		r.src.bytes += n
		r.src.fails = 0
		keep := !e.stopped && r.i < e.hashNext+holdPieces
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

// hash computes the whole content's SHA-256, in order, as pieces are done:
// from memory for the pieces the verifiers kept for it, else read back from
// the partial file. It verifies resumed pieces as it reads them, and puts
// the ones that do not match back in the queue.
func (e *engine) hash() {
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
			return
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
				e.mu.Lock()
				if e.fatal == nil {
					e.fatal = fmt.Errorf("read back %s: %w", e.partial, err)
				}
				e.cond.Broadcast()
				e.mu.Unlock()
				return
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
	var sum [32]byte
	h.Sum(sum[:0])
	e.mu.Lock()
	e.whole = &sum
	e.hashNext = e.n
	e.cond.Broadcast()
	e.mu.Unlock()
}

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

// progress is the download's state now.
func (e *engine) progress(r *rateMeter) Progress {
	e.mu.Lock()
	p := Progress{
		Done:       e.doneBytes,
		Total:      e.t.Size,
		Resumed:    e.resumedBytes,
		PiecesDone: e.ndone,
		Pieces:     e.n,
		Elapsed:    time.Since(e.start),
	}
	fetched := e.fetchedBytes
	for _, s := range e.srcs {
		if s.statted && !s.dropped {
			p.Sources++
		}
	}
	e.mu.Unlock()
	p.Rate = r.add(time.Now(), fetched)
	return p
}

// progressLoop calls Options.Progress every ProgressInterval until stop is
// closed.
func (e *engine) progressLoop(stop <-chan struct{}, r *rateMeter) {
	t := time.NewTicker(e.o.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			e.o.Progress(e.progress(r))
		}
	}
}

// rateMeter measures a rate over the last RateWindow from samples of a
// growing count.
type rateMeter struct {
	mu      sync.Mutex
	samples []rateSample
}

type rateSample struct {
	at time.Time
	n  int64
}

func newRateMeter() *rateMeter { return &rateMeter{} }

// add records that the count is n at time now and returns the rate per
// second since the oldest sample in the window.
func (r *rateMeter) add(now time.Time, n int64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, rateSample{now, n})
	cut := 0
	for cut < len(r.samples)-1 && now.Sub(r.samples[cut].at) > RateWindow {
		cut++
	}
	r.samples = r.samples[cut:]
	first := r.samples[0]
	dt := now.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(n-first.n) / dt
}
