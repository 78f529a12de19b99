package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/server/directory"
)

// reachability is how a listing shows peer at address: DIRECT when the
// dial-back reached it (direct connections are preferred), else RELAYED
// while it waits at this directory's relay, else what the dial-back found.
func (h *handler) reachability(peer, address string) directoryv1.Reachability {
	r := h.dir.Reachability(peer, address)
	switch {
	case r == directory.ReachDirect:
		return directoryv1.Reachability_REACHABILITY_DIRECT
	case h.relayed != nil && h.relayed(peer):
		return directoryv1.Reachability_REACHABILITY_RELAYED
	case r == directory.ReachUnreachable:
		return directoryv1.Reachability_REACHABILITY_UNREACHABLE
	}
	return directoryv1.Reachability_REACHABILITY_UNSPECIFIED
}

// dialBackResult is the dial-back's own result for a peer session, which
// its heartbeats carry (so that --relay auto follows the check, not its
// own waiting at the relay).
func (h *handler) dialBackResult(peer, sessionID string) directoryv1.Reachability {
	switch h.dir.SessionReachability(peer, sessionID) {
	case directory.ReachDirect:
		return directoryv1.Reachability_REACHABILITY_DIRECT
	case directory.ReachUnreachable:
		return directoryv1.Reachability_REACHABILITY_UNREACHABLE
	}
	return directoryv1.Reachability_REACHABILITY_UNSPECIFIED
}

// relayAuth answers the relay's questions about tokens with the
// directory's rules.
type relayAuth struct{ s *Server }

// errNotPeerSession refuses a waiting connection of a client session.
var errNotPeerSession = errors.New("only a peer session (logged in with an advertise address) waits at the relay, under its own name")

// AuthenticateWaiter implements relay.Authorizer: a live peer session's
// token, whose peer name (bound to its account) is where it waits.
func (a relayAuth) AuthenticateWaiter(ctx context.Context, raw string) (string, string, error) {
	c, err := a.s.dir.Authenticate(ctx, raw)
	if err != nil {
		return "", "", err
	}
	if c.Peer == "" {
		return "", "", connect.NewError(connect.CodePermissionDenied, errNotPeerSession)
	}
	return c.Peer, c.SessionID, nil
}

// AuthorizeConnect implements relay.Authorizer: a relay token for peer.
func (a relayAuth) AuthorizeConnect(ctx context.Context, raw, peer string) (string, error) {
	c, err := a.s.dir.AuthenticateRelay(ctx, raw, peer)
	if err != nil {
		return "", err
	}
	return c.Subject, nil
}

// Code implements relay.Authorizer with the directory's one mapping of
// errors to codes.
func (a relayAuth) Code(err error) connect.Code {
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeOf(connectError(context.Background(), a.s.log, "relay", err))
}
