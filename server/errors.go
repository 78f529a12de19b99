package server

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/server/directory"
)

// codes maps each sentinel of package directory (and so of package store,
// whose sentinels directory re-exports) to its Connect code. The first
// match wins: ErrUnauthenticated comes before ErrNotFound because an ended
// session is the caller's authentication problem, not a missing resource.
var codes = []struct {
	err  error
	code connect.Code
}{
	{directory.ErrUnauthenticated, connect.CodeUnauthenticated},
	{directory.ErrInvalidArgument, connect.CodeInvalidArgument},
	{directory.ErrReadOnly, connect.CodePermissionDenied},
	{directory.ErrTooManyAttempts, connect.CodeResourceExhausted},
	{directory.ErrLimit, connect.CodeResourceExhausted},
	{directory.ErrNotPeer, connect.CodeFailedPrecondition},
	{directory.ErrInUse, connect.CodeFailedPrecondition},
	{directory.ErrAlreadyExists, connect.CodeAlreadyExists},
	{directory.ErrNotFound, connect.CodeNotFound},
	{context.Canceled, connect.CodeCanceled},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
}

// connectError is the one place where domain and store errors become
// Connect errors. A caller's mistake keeps its message, which says what to
// fix; anything else is the server's own failure: it is logged in full and
// the caller gets a generic Internal error, so internals (paths, SQL) do not
// leak.
func connectError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return connect.NewError(c.code, err)
		}
	}
	log.ErrorContext(ctx, "internal error", "procedure", procedure, "error", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error; the directory's log has the details"))
}
