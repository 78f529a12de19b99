package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// Several downloads in one command: get NAME..., get --folder (see
// getfolder.go), and anything else that hands downloads over as it finds
// them (get --watch). A getRunner runs them in one session, a bounded
// number at once, behind one progress display, and sums them up at the end.

// Bounds of get --parallel, in downloads at once.
const (
	// defaultParallel is how many files a get of several runs at once.
	// Each download already fetches from all its sources in parallel; a
	// few at once keep the link busy across small files and the gaps
	// between files, without splitting the bandwidth so many ways that no
	// file ever finishes.
	defaultParallel = 3
	// maxParallel bounds --parallel: every download keeps pieces in flight
	// at each of its sources, and peers limit transfers per account.
	maxParallel = 32
)

// getJob is one download of a getRunner.
type getJob struct {
	// Label names the download in the display, the JSON events and the
	// summary: the NAME given, or the file's path for a folder.
	Label string
	// Query finds the content at the directory: when Cand is nil, before
	// the download starts; and, with --wait, again whenever no source is
	// left. The NAME given, or the content's SHA-256.
	Query string
	// Cand is the content and its sources; nil to resolve Query first.
	Cand *downloader.Candidate
	// Root and Rel place a file of a folder download: Rel
	// (downloader.FolderPath) inside the output folder Root, whose
	// folders are made through Root when the download starts. Without
	// Root the file goes to the output folder under the candidate's
	// FileName.
	Root *os.Root
	Rel  string
}

// getRunOptions configure a getRunner: the flags of get.
type getRunOptions struct {
	OutDir   string        // the output folder, which exists
	Parallel int           // downloads at once, 1 to maxParallel
	Force    bool          // replace existing files
	Wait     time.Duration // --wait: how long to wait for a source
	Stall    time.Duration // --stall-timeout
	JSON     bool          // JSON events on stdout
}

// getOutcome is how one download ended.
type getOutcome struct {
	label string
	dest  string
	res   *downloader.Result
	err   error
	// same is the label of an earlier download of this get that writes
	// the same file with the same content: this one was not run.
	same string
	// had says the destination held the content already: nothing was
	// downloaded.
	had bool
}

// getRunner runs downloads for one command: at most Parallel at once, in
// the order they were added, in the command's session, with one display.
// add may be called at any time until finish; a job is started as soon as
// a slot is free. Its methods are safe for concurrent use.
type getRunner struct {
	ctx context.Context
	g   *globals
	s   *session.Session
	o   getRunOptions
	// routes reach every download's sources, directly or through the
	// directory's relay; shared, so that each peer gets one connection.
	routes *downloader.Relay
	show   *manyDisplay

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []getJob
	closed   bool              // finish was called: no more jobs
	dests    map[string]string // destination → SHA-256, of every download so far
	labels   map[string]string // destination → the label that claimed it
	outcomes []getOutcome
	workers  sync.WaitGroup
	start    time.Time
}

// startGetRunner starts a runner in session s, which stays logged in (and
// alive) until finish returns.
func startGetRunner(ctx context.Context, g *globals, s *session.Session, o getRunOptions) *getRunner {
	r := &getRunner{
		ctx: ctx, g: g, s: s, o: o,
		routes: relayRoutes(s),
		show:   newManyDisplay(g, o.JSON),
		dests:  map[string]string{},
		labels: map[string]string{},
		start:  time.Now(),
	}
	r.cond = sync.NewCond(&r.mu)
	for range max(1, min(o.Parallel, maxParallel)) {
		r.workers.Go(r.work)
	}
	return r
}

// add queues a download. It must not be called after finish.
func (r *getRunner) add(j getJob) {
	var size int64
	if j.Cand != nil {
		size = j.Cand.Size
	}
	r.show.added(size)
	r.mu.Lock()
	r.queue = append(r.queue, j)
	r.mu.Unlock()
	r.cond.Signal()
}

// fail records a download that failed before it could be queued (a name
// that resolved to nothing, a refused name in a folder's listing).
func (r *getRunner) fail(label string, err error) {
	r.show.added(0)
	r.show.failed(label, "", nil, err, "")
	r.mu.Lock()
	r.outcomes = append(r.outcomes, getOutcome{label: label, err: err})
	r.mu.Unlock()
}

// finish waits for every download added to end (or, once ctx is done,
// counts those not started as failed), closes the display and returns
// nil if every download succeeded, else an error that names each failed
// one and how to resume it. With --json, the last line printed is the
// summary event.
func (r *getRunner) finish() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cond.Broadcast()
	r.workers.Wait()
	// The downloads are over: their connections (direct or relayed) go,
	// as get and the menu close theirs.
	r.routes.Close()
	r.show.close()
	r.mu.Lock()
	outcomes := r.outcomes
	r.mu.Unlock()
	return r.summary(outcomes)
}

// work runs queued downloads until the runner is finished and the queue
// empty.
func (r *getRunner) work() {
	for {
		r.mu.Lock()
		for len(r.queue) == 0 && !r.closed {
			r.cond.Wait()
		}
		if len(r.queue) == 0 {
			r.mu.Unlock()
			return
		}
		j := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()

		out := r.run(j)
		r.mu.Lock()
		r.outcomes = append(r.outcomes, out)
		r.mu.Unlock()
	}
}

// run is one download, with get's --wait rules: when no source is online
// (or every one is gone or hung), ask the directory again for Query until
// one appears or the wait is over.
func (r *getRunner) run(j getJob) getOutcome {
	out := getOutcome{label: j.Label}
	if err := r.ctx.Err(); err != nil {
		out.err = fmt.Errorf("not started: %w", context.Cause(r.ctx))
		r.show.failed(j.Label, "", nil, out.err, "")
		return out
	}
	var known int64
	if j.Cand != nil {
		known = j.Cand.Size
	}
	view := r.show.begin(j.Label, known)
	w := newWaiter(r.show.globals(r.g), r.o.JSON, j.Label, r.o.Wait)
	cand := j.Cand
	for {
		if cand == nil {
			c, err := downloader.Resolve(r.ctx, r.s.Reads(), j.Query)
			if errors.Is(err, downloader.ErrNotFound) && w.again(r.ctx, "no online peer shares it") {
				continue
			}
			if err != nil {
				out.err = w.fail(err)
				break
			}
			cand = &c
		}
		if out.dest == "" {
			dest, same, err := r.place(j, *cand)
			if err != nil || same != "" {
				out.dest, out.err, out.same = dest, err, same
				break
			}
			out.dest = dest
			view.sized(cand.Size)
			if !r.o.Force && alreadyThere(dest, *cand) {
				out.res = &downloader.Result{SHA256: cand.SHA256, Size: cand.Size, ResumedBytes: cand.Size, Path: dest}
				out.had = true
				break
			}
		}
		out.res, out.err = downloader.Get(r.ctx, *cand, downloader.Options{
			Dest:  out.dest,
			Force: r.o.Force,
			// A download token per source, renewed as it runs: the
			// session token never goes to a peer.
			Tokens:           r.s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD),
			Routes:           r.routes,
			Progress:         view.progress,
			ProgressInterval: barInterval,
			StallTimeout:     r.o.Stall,
		})
		if errors.Is(out.err, downloader.ErrNoSources) && j.Query != "" && w.again(r.ctx, "every source is gone or hung") {
			cand = nil
			continue
		}
		if out.err != nil {
			out.err = getFailed(w.fail(out.err), out.dest, out.res)
		}
		break
	}
	view.end(r.ctx, out)
	return out
}

// place decides where a job's file goes, makes the folders on the way
// (a folder download's, through its os.Root) and claims the destination
// for this job. A destination an earlier job of this get claimed is not
// downloaded twice: with the same content, same is that job's label; with
// another content, it is an error.
func (r *getRunner) place(j getJob, c downloader.Candidate) (dest, same string, err error) {
	if j.Root != nil {
		if err := downloader.MakeParents(j.Root, j.Rel); err != nil {
			return "", "", err
		}
		dest = filepath.Join(r.o.OutDir, filepath.FromSlash(j.Rel))
	} else {
		dest = destination(r.o.OutDir, c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sha, ok := r.dests[dest]; ok {
		if sha == c.SHA256 {
			return dest, r.labels[dest], nil
		}
		return dest, "", fmt.Errorf("%s is also where %s of this get goes, with another content: get one of them on its own, with -o another folder", dest, r.labels[dest])
	}
	r.dests[dest], r.labels[dest] = c.SHA256, j.Label
	return dest, "", nil
}

// alreadyThere reports whether dest is a regular file that holds c's
// content already: a get of several files run again, to resume the ones
// that failed, does not fail for those it saved the first time, nor
// download them again.
func alreadyThere(dest string, c downloader.Candidate) bool {
	complete, err := contentAt(dest, c)
	return err == nil && complete
}

// contentAt reports whether dest is a regular file holding exactly c's
// content (its size, then its SHA-256: true) or something else (false); an
// error when nothing is there or it cannot be read. A link is something
// else, never followed.
func contentAt(dest string, c downloader.Candidate) (bool, error) {
	fi, err := os.Lstat(dest)
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != c.Size {
		return false, nil
	}
	f, err := os.Open(dest)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == c.SHA256, nil
}

// destination is where get saves a candidate in outDir: under its
// FileName (its SHA-256 if it has no usable name), as an absolute path so
// that what get prints says exactly where the file went.
func destination(outDir string, c downloader.Candidate) string {
	name := c.FileName()
	if name == "." || name == "/" || name == "" {
		name = c.SHA256
	}
	dest := filepath.Join(outDir, name)
	if abs, err := filepath.Abs(dest); err == nil {
		dest = abs
	}
	return dest
}

// summary is the command's result: nil if every download succeeded, else
// an error naming each failed one. With --json it first prints the
// summary event.
func (r *getRunner) summary(outcomes []getOutcome) error {
	var failed []getOutcome
	saved := 0
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			failed = append(failed, o)
		case o.same == "":
			saved++
		}
	}
	if r.o.JSON {
		ev := getSummary{Event: "summary", Files: len(outcomes), Saved: saved, Failed: []string{}, Seconds: time.Since(r.start).Seconds()}
		for _, o := range failed {
			ev.Failed = append(ev.Failed, o.label)
		}
		r.show.json(ev)
	}
	if len(failed) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %s failed (%d saved):", len(failed), len(outcomes), plural(len(outcomes), "file", "files"), saved)
	for _, o := range failed {
		fmt.Fprintf(&b, "\n  %s: %s", o.label, strings.ReplaceAll(Message(o.err), "\n", "\n    "))
	}
	return errors.New(b.String())
}

// getSummary is the last line of a get of several files with --json.
type getSummary struct {
	Event   string   `json:"event"` // "summary"
	Files   int      `json:"files"`
	Saved   int      `json:"saved"`
	Failed  []string `json:"failed"` // the labels of the downloads that failed
	Seconds float64  `json:"elapsedSeconds"`
}

// getFailedEvent is a get --json event: one download of several (or of
// get --watch's wishlist, which tries it again when its sources change)
// failed.
type getFailedEvent struct {
	Event  string `json:"event"` // "failed"
	Name   string `json:"name"`
	SHA256 string `json:"sha256"` // "" if it failed before it was resolved
	Path   string `json:"path"`   // "" if it failed before it had one
	Error  string `json:"error"`
	// Partial is the partial file kept, which the same command resumes;
	// "" if there is none.
	Partial string `json:"partialPath"`
}

// keepAlive heartbeats session s until the returned stop is called, so
// that a long get outlives the session's TTL. stop returns once the
// heartbeats ended: nothing logs afterwards.
func keepAlive(ctx context.Context, s *session.Session) (stop func()) {
	hbCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.KeepAlive(hbCtx) })
	return func() { cancel(); wg.Wait() }
}
