package rpcserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
)

// ErrorCode says which Connect code a caller gets for an error that wraps
// Err (errors.Is).
type ErrorCode struct {
	Err  error
	Code connect.Code
}

// ConnectError is the error policy of every edge (the directory's and the
// peer's): each edge calls it, with its own table of domain sentinels, in
// the one function that turns its domain errors into Connect errors.
//
// An error that already is (or wraps) a *connect.Error keeps it. An error
// that wraps a sentinel of codes, or a context error, is the caller's to
// know: it keeps its message, which says what to fix or what happened.
// Anything else is the server's own failure: it is logged here, once, in
// full and with a new request id, and the caller gets CodeInternal with a
// message that names only that request id, so internals (paths, SQL, file
// names) never leave the server. The interceptor of HandlerOptions does not
// log such an error a second time.
func ConnectError(ctx context.Context, log *slog.Logger, procedure string, codes []ErrorCode, err error) error {
	if err == nil {
		return nil
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce
	}
	for _, c := range codes {
		if errors.Is(err, c.Err) {
			return connect.NewError(c.Code, err)
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeInternal, LogInternal(ctx, log, procedure, err))
}

// LogInternal logs err, a server's own failure at route (a procedure or
// an HTTP route), once, in full and with a new request id, and returns
// what the caller may learn of it: an error that names only that request
// id. ConnectError uses it; so do edges that are not Connect handlers
// (a peer's /files route).
func LogInternal(ctx context.Context, log *slog.Logger, route string, err error) error {
	id := newRequestID()
	log.ErrorContext(ctx, "internal error", "procedure", route, "request_id", id, "error", err)
	return &internalError{requestID: id}
}

// internalError is what a caller learns of a server's own failure: that it
// happened, and the request id under which the server logged it.
type internalError struct{ requestID string }

func (e *internalError) Error() string {
	return "internal error; the server's log has the details under request_id " + e.requestID
}

// logged reports whether err is a failure ConnectError logged already.
func logged(err error) bool {
	_, ok := errors.AsType[*internalError](err)
	return ok
}

// newRequestID returns 16 random hex digits: enough that two failures of
// one server never share one, short enough to read out.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
