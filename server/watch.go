package server

import (
	"context"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
)

// watchEventTypes maps the directory's watch events to the protocol's.
var watchEventTypes = map[directory.WatchEventType]directoryv1.WatchEventType{
	directory.WatchCurrent:   directoryv1.WatchEventType_WATCH_EVENT_TYPE_CURRENT,
	directory.WatchSynced:    directoryv1.WatchEventType_WATCH_EVENT_TYPE_SYNCED,
	directory.WatchAdded:     directoryv1.WatchEventType_WATCH_EVENT_TYPE_ADDED,
	directory.WatchRemoved:   directoryv1.WatchEventType_WATCH_EVENT_TYPE_REMOVED,
	directory.WatchChanged:   directoryv1.WatchEventType_WATCH_EVENT_TYPE_CHANGED,
	directory.WatchKeepalive: directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE,
}

// WatchSearch implements directoryv1connect.DirectoryServiceHandler: it
// sends the watch's events as the directory produces them, until the
// client hangs up (ctx ends: the normal end, counted as ok) or the watch
// fails.
func (h *handler) WatchSearch(ctx context.Context, req *connect.Request[directoryv1.WatchSearchRequest], stream *connect.ServerStream[directoryv1.WatchSearchResponse]) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	m := req.Msg
	w, err := h.dir.Watch(ctx, c, store.SearchQuery{
		Query:        sharepath.Normalize(m.GetQuery()), // as Search's
		SHA256:       m.GetSha256(),
		SHA256Prefix: m.GetSha256Prefix(),
	})
	if err != nil {
		return h.fail(ctx, req.Spec().Procedure, err)
	}
	defer w.Close()
	for {
		events, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client hung up: how a watch ends
			}
			return h.fail(ctx, req.Spec().Procedure, err)
		}
		var results []store.SearchResult
		for _, ev := range events {
			if hasResult(ev.Type) {
				results = append(results, ev.Result)
			}
		}
		encoded := h.searchResults(results)
		for _, ev := range events {
			out := &directoryv1.WatchSearchResponse{Type: watchEventTypes[ev.Type], Truncated: ev.Truncated}
			if hasResult(ev.Type) {
				out.Result, encoded = encoded[0], encoded[1:]
			}
			if err := stream.Send(out); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// hasResult reports whether an event of type t carries a result.
func hasResult(t directory.WatchEventType) bool {
	return t != directory.WatchSynced && t != directory.WatchKeepalive
}
