package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// watchRequest is the live search of a command-line query: by hash for a
// whole SHA-256 or a prefix of one (8 or more hex digits, any case), by
// name otherwise, as search and get read it (downloader.SearchRequests;
// a live search cannot fall back to the name when no hash matches yet).
func watchRequest(query string) *directoryv1.WatchSearchRequest {
	req := downloader.SearchRequests(sharepath.Normalize(query), 0)[0]
	return &directoryv1.WatchSearchRequest{Query: req.GetQuery(), Sha256: req.GetSha256(), Sha256Prefix: req.GetSha256Prefix()}
}

// errWatchEnded is a live search the directory ended without an error.
var errWatchEnded = errors.New("the directory ended the live search")

// followWatch opens the live search of query with s and calls fn with each
// of its events but keepalives, until ctx ends, the stream fails or fn
// fails. It keeps s alive (heartbeats) meanwhile: the directory ends a
// watch once its session does.
func followWatch(ctx context.Context, s *session.Session, query string, fn func(*directoryv1.WatchSearchResponse) error) error {
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var heartbeats sync.WaitGroup
	heartbeats.Go(func() { s.KeepAlive(hbCtx) })
	defer heartbeats.Wait()
	defer stopHeartbeat()

	stream, err := s.Reads().WatchSearch(ctx, connect.NewRequest(watchRequest(query)))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		ev := stream.Msg()
		if ev.GetType() == directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := stream.Err(); err != nil {
		return err
	}
	return errWatchEnded
}

// runSearchWatch is search --watch: the matches as a table, then a line
// per change; with --json every event as one object per line.
func runSearchWatch(ctx context.Context, g *globals, s *session.Session, query string, asJSON bool) error {
	out := g.streams.Out
	var current []*directoryv1.SearchResult
	return followWatch(ctx, s, query, func(ev *directoryv1.WatchSearchResponse) error {
		if asJSON {
			return printJSON(out, ev)
		}
		switch ev.GetType() {
		case directoryv1.WatchEventType_WATCH_EVENT_TYPE_CURRENT:
			current = append(current, ev.GetResult())
			return nil
		case directoryv1.WatchEventType_WATCH_EVENT_TYPE_SYNCED:
			if err := printResults(out, query, current); err != nil {
				return err
			}
			if ev.GetTruncated() {
				fmt.Fprintf(g.streams.Err, "More files match than a live search follows; only the first %d are watched: narrow the query.\n", len(current))
			}
			fmt.Fprintln(g.streams.Err, "Watching for changes (Ctrl-C to stop)…")
			return nil
		}
		return printWatchEvent(out, ev)
	})
}

// printResults prints search results as search's table, or says that
// nothing matches.
func printResults(w io.Writer, query string, results []*directoryv1.SearchResult) error {
	if len(results) == 0 {
		_, err := fmt.Fprintf(w, "No online peer shares a file matching %q.\n", query)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tACCOUNTS\tSOURCES")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", strings.Join(r.GetNames(), ", "), humansize.Format(r.GetSize()), shortHash(r.GetSha256()), sourceAccounts(r.GetSources()), len(r.GetSources()))
	}
	return tw.Flush()
}

// watchVerbs are the words search --watch starts a change's line with.
var watchVerbs = map[directoryv1.WatchEventType]string{
	directoryv1.WatchEventType_WATCH_EVENT_TYPE_ADDED:   "added",
	directoryv1.WatchEventType_WATCH_EVENT_TYPE_REMOVED: "removed",
	directoryv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED: "changed",
}

// printWatchEvent prints one change as a line: what happened, then the
// table's columns (a removed content with the sources it had).
func printWatchEvent(w io.Writer, ev *directoryv1.WatchSearchResponse) error {
	verb, ok := watchVerbs[ev.GetType()]
	if !ok {
		return nil // a kind this client does not know: not news to it
	}
	r := ev.GetResult()
	_, err := fmt.Fprintf(w, "%-8s %s  %s  %s  %s  %d %s\n", verb, strings.Join(r.GetNames(), ", "), humansize.Format(r.GetSize()), shortHash(r.GetSha256()),
		sourceAccounts(r.GetSources()), len(r.GetSources()), plural(len(r.GetSources()), "source", "sources"))
	return err
}

// shortHash is a SHA-256 as tables show it: its first 12 digits (all of a
// shorter one, which a well-behaved directory never sends).
func shortHash(sha string) string { return sha[:min(len(sha), 12)] }
