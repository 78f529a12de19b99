package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// getSkipped is the get --watch --json event of a match it does not
// download: its file is complete in the output folder already
// (reason "complete"), or another file has its name there ("exists").
type getSkipped struct {
	Event  string `json:"event"` // "skipped"
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Reason string `json:"reason"`
}

// wishlist is the state of get --watch: the matches waiting to be
// downloaded, in the order they came, and those it is done with.
type wishlist struct {
	mu     sync.Mutex
	queue  []downloader.Candidate
	queued map[string]bool // by contentKey, queued or downloading
	done   map[string]bool // by contentKey: saved, or skipped for good
	wake   chan struct{}   // something was queued
}

// contentKey identifies a match's descriptor.
func contentKey(c downloader.Candidate) string {
	return fmt.Sprintf("%s/%s/%d/%d", c.SHA256, c.PieceRoot, c.Size, c.PieceSize)
}

// want queues c unless it is done, queued already or has no source.
func (l *wishlist) want(c downloader.Candidate) {
	k := contentKey(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done[k] || l.queued[k] || len(c.Sources) == 0 {
		return
	}
	l.queued[k] = true
	l.queue = append(l.queue, c)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// next waits for the next queued match; false once ctx ends.
func (l *wishlist) next(ctx context.Context) (downloader.Candidate, bool) {
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return c, true
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return downloader.Candidate{}, false
		case <-l.wake:
		}
	}
}

// finish records the end of c's download: done for good, or to be tried
// again when it is wanted again.
func (l *wishlist) finish(c downloader.Candidate, done bool) {
	k := contentKey(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.queued, k)
	if done {
		l.done[k] = true
	}
}

// runGetWatch is get --watch: it follows the live search of query and
// downloads each match into outDir, one at a time, until ctx ends.
func runGetWatch(ctx context.Context, g *globals, o *clientOptions, query, outDir string, stall time.Duration) error {
	s, err := o.login(ctx, g)
	if err != nil {
		return err
	}
	defer s.Logout(context.WithoutCancel(ctx))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if abs, err := filepath.Abs(outDir); err == nil {
		outDir = abs // the lines say exactly where files went
	}
	list := &wishlist{queued: map[string]bool{}, done: map[string]bool{}, wake: make(chan struct{}, 1)}
	// Sources are reached as by every get: directly, else through the
	// directory's relay. Closed once the downloads are over.
	routes := relayRoutes(s)
	defer routes.Close()

	// Downloads run beside the stream, which must be read on while one
	// runs: a client that stops reading is cut off by the directory.
	dlCtx, stopDownloads := context.WithCancel(ctx)
	var downloads sync.WaitGroup
	downloads.Go(func() {
		for {
			c, ok := list.next(dlCtx)
			if !ok {
				return
			}
			list.finish(c, fetchMatch(dlCtx, g, s, routes, o.json, c, outDir, stall))
		}
	})
	defer downloads.Wait()
	defer stopDownloads()

	req := watchRequest(query)
	delay := watchRetry
	for {
		err := followWatch(ctx, s, query, func(ev *directoryv1.WatchSearchResponse) error {
			switch ev.GetType() {
			case directoryv1.WatchEventType_WATCH_EVENT_TYPE_CURRENT,
				directoryv1.WatchEventType_WATCH_EVENT_TYPE_ADDED,
				directoryv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED:
				list.want(downloader.CandidateOf(ev.GetResult(), query, req.GetQuery() == ""))
			case directoryv1.WatchEventType_WATCH_EVENT_TYPE_SYNCED:
				delay = watchRetry
				if !o.json {
					fmt.Fprintf(g.streams.Err, "Watching for files matching %q; downloading into %s (Ctrl-C to stop)…\n", query, outDir)
				}
			}
			return nil
		})
		if ctx.Err() != nil || !worthRetrying(err) {
			return err
		}
		// A wishlist outlives a directory's restart or a lost
		// connection: it opens the live search again (whose current
		// matches are then queued, those done already skipped).
		fmt.Fprintf(g.streams.Err, "The live search ended (%s); opening it again in %v.\n", Message(err), delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, maxWatchRetry)
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			if lerr := s.Login(ctx); lerr != nil && !worthRetrying(lerr) {
				return lerr
			}
		}
	}
}

// get --watch's pace of opening the live search again, in time: first
// after watchRetry, doubling up to maxWatchRetry while it keeps failing.
const (
	watchRetry    = time.Second
	maxWatchRetry = 30 * time.Second
)

// worthRetrying reports whether a live search that ended with err may work
// if opened again: not when the request itself is refused.
func worthRetrying(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeResourceExhausted, connect.CodePermissionDenied, connect.CodeUnimplemented:
		return false
	}
	return err != nil
}

// fetchMatch downloads c into outDir unless it is there already, and says
// what happened; it reports whether get --watch is done with c (saved or
// skipped for good) rather than to try again later.
func fetchMatch(ctx context.Context, g *globals, s *session.Session, routes *downloader.Relay, asJSON bool, c downloader.Candidate, outDir string, stall time.Duration) bool {
	name := c.FileName()
	if name == "." || name == "/" || name == "" {
		name = c.SHA256
	}
	if !pieces.IsHex(c.SHA256) || sharepath.CheckSegment(name) != nil {
		// What a directory (or a peer forwarding for it) must never
		// send: not a name to write, nor a hash to show.
		fmt.Fprintf(g.streams.Err, "Skipped a match with a malformed name or hash: %q\n", name)
		return true
	}
	dest := filepath.Join(outDir, name)
	if complete, err := contentAt(dest, c); err == nil {
		reason := map[bool]string{true: "complete", false: "exists"}[complete]
		if asJSON {
			printJSON(g.streams.Out, getSkipped{Event: "skipped", Path: dest, SHA256: c.SHA256, Reason: reason})
		} else if complete {
			fmt.Fprintf(g.streams.Out, "Have %s already (sha256 %s)\n", dest, c.SHA256[:12])
		} else {
			fmt.Fprintf(g.streams.Err, "Skipped %s (sha256 %s): another file of that name is in the folder\n", dest, c.SHA256[:12])
		}
		return true
	}
	rep := newReporter(g, asJSON, name)
	res, err := downloader.Get(ctx, c, downloader.Options{
		Dest:             dest,
		Tokens:           s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD),
		Progress:         rep.progress,
		ProgressInterval: barInterval,
		StallTimeout:     stall,
		Routes:           routes,
	})
	rep.close(err == nil)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		if asJSON {
			printJSON(g.streams.Out, getFailedEvent{Event: "failed", Name: name, SHA256: c.SHA256, Error: Message(err)})
		} else {
			fmt.Fprintf(g.streams.Err, "Could not get %s: %s (trying again when its sources change)\n", name, Message(getFailed(err, dest, res)))
		}
		return errors.Is(err, downloader.ErrExists)
	}
	if asJSON {
		printJSON(g.streams.Out, getDone{
			Event: "done", Path: dest, SHA256: res.SHA256, Size: res.Size,
			Fetched: res.FetchedBytes, Resumed: res.ResumedBytes, Seconds: res.Elapsed.Seconds(),
			Sources: sourceCounts(res),
		})
	} else {
		fmt.Fprintf(g.streams.Out, "Saved %s (%s, sha256 %s)\n", dest, humansize.Format(res.Size), res.SHA256)
	}
	return true
}
