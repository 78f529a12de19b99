package server

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/server/directory"
)

// codes maps each sentinel of package directory (and so of package store,
// whose sentinels directory re-exports) to its Connect code. The first
// match wins: ErrUnauthenticated comes before ErrNotFound because an ended
// session is the caller's authentication problem, not a missing resource.
var codes = []rpcserver.ErrorCode{
	{Err: directory.ErrUnauthenticated, Code: connect.CodeUnauthenticated},
	{Err: directory.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: directory.ErrReadOnly, Code: connect.CodePermissionDenied},
	{Err: directory.ErrNotOwner, Code: connect.CodePermissionDenied},
	{Err: directory.ErrTooManyAttempts, Code: connect.CodeResourceExhausted},
	{Err: directory.ErrLimit, Code: connect.CodeResourceExhausted},
	{Err: directory.ErrNotPeer, Code: connect.CodeFailedPrecondition},
	{Err: directory.ErrInUse, Code: connect.CodeFailedPrecondition},
	{Err: directory.ErrAlreadyExists, Code: connect.CodeAlreadyExists},
	{Err: directory.ErrNotFound, Code: connect.CodeNotFound},
	{Err: directory.ErrUnavailable, Code: connect.CodeUnavailable},
}

// connectError is the one place where domain and store errors become
// Connect errors, under the policy every edge shares
// (rpcserver.ConnectError): a caller's mistake keeps its message, which says
// what to fix; anything else is the server's own failure, logged in full
// with a request id while the caller gets a generic Internal error, so
// internals (paths, SQL) do not leak.
func connectError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	return rpcserver.ConnectError(ctx, log, procedure, codes, err)
}
