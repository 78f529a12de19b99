package downloader

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
)

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

// run is Download once the engine is set up.
func (e *engine) run(ctx context.Context) (*Result, error) {
	e.start = time.Now()
	if err := e.prepare(); err != nil {
		closeFile(e.f)
		closeFile(e.sf)
		if e.dir != nil {
			e.dir.close()
		}
		return nil, err
	}
	defer e.dir.close()

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
	bgWG.Go(func() { e.writebackLoop(commitStop) })
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
	e.peers.CloseIdleConnections()

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

// fail ends the download with err, unless it failed already.
func (e *engine) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failLocked(err)
}

// failLocked is fail for a caller that holds e.mu.
func (e *engine) failLocked(err error) {
	if e.fatal == nil {
		e.fatal = err
	}
	e.cond.Broadcast()
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

// finish checks the whole content, syncs the partial file (the sync that
// makes it durable; a background one that failed fails it too, see
// writeback.go) and moves it to its destination. A failure past the check
// keeps the partial file and records its state, as keep does.
func (e *engine) finish() error {
	d := e.dir
	if got := pieces.Hex(*e.whole); got != e.t.SHA256 {
		e.closeFiles()
		d.remove(d.partial)
		d.remove(d.state)
		return fmt.Errorf("%w: every piece verified, but the content hashes to %s, not %s", ErrMismatch, got, e.t.SHA256)
	}
	if !e.o.Force {
		// Checked at the start too; this narrows the window in which a
		// file created meanwhile would be replaced.
		if fi, _ := d.lstat(d.name); fi != nil {
			return e.keep(fmt.Errorf("%s: %w (the complete download is kept in %s)", e.o.Dest, ErrExists, d.path(d.partial)))
		}
	}
	if err := e.f.Sync(); err != nil {
		return e.keep(fmt.Errorf("sync %s: %w", d.path(d.partial), diskFull(err)))
	}
	err := e.f.Close()
	e.f = nil
	if err != nil {
		return e.keep(fmt.Errorf("close %s: %w", d.path(d.partial), diskFull(err)))
	}
	// A link at the destination (with Force) is replaced, not followed.
	if err := d.rename(d.partial, d.name); err != nil {
		return e.keep(fmt.Errorf("move download into place: %w", diskFull(err)))
	}
	e.closeFiles()
	d.remove(d.state)
	d.sync()
	return nil
}

// keep records what is on disk after a failure, so that the next call
// resumes it; with nothing on disk it removes the partial and state files
// instead. A failure to record it is joined to err: the state file then
// holds the last record saved, one save older.
func (e *engine) keep(err error) error {
	e.mu.Lock()
	ndone := e.ndone
	e.mu.Unlock()
	if ndone == 0 {
		e.closeFiles()
		e.dir.remove(e.dir.partial)
		e.dir.remove(e.dir.state)
		return err
	}
	cerr := e.commit()
	e.closeFiles()
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// closeFiles closes the partial and state files that are still open.
func (e *engine) closeFiles() {
	closeFile(e.f)
	closeFile(e.sf)
	e.f, e.sf = nil, nil
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
	if fi, _ := e.dir.lstat(e.dir.partial); fi != nil {
		r.Path = e.dir.path(e.dir.partial)
	} else if e.whole != nil {
		r.Path = e.o.Dest
	}
	for _, s := range e.srcs {
		r.Sources = append(r.Sources, SourceResult{Source: s.Source, Pieces: s.pieces, Bytes: s.bytes, Dropped: s.dropped, Err: s.err})
	}
	return r
}
