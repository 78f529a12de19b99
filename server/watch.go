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
		for _, ev := range events {
			out := &directoryv1.WatchSearchResponse{Type: watchEventTypes[ev.Type], Truncated: ev.Truncated}
			if ev.Type != directory.WatchSynced && ev.Type != directory.WatchKeepalive {
				out.Result = searchResultToProto(ev.Result)
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
