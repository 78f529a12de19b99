package cli

import (
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// relayRoutes is how a download reaches its sources: directly, else
// through the relay of the session's directory, with relay tokens it
// issues per peer.
func relayRoutes(s *session.Session) *downloader.Relay {
	base, dirTLS, err := s.DirectoryTLS()
	if err != nil {
		// The session's own calls already failed on this URL; the relay
		// reports the same error (Relay.Client) if it is ever tried.
		base = s.Directory()
	}
	return &downloader.Relay{
		Directory:    base,
		DirectoryTLS: dirTLS,
		Tokens:       s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY),
	}
}

// reachWord is how `peerhub peers` shows a peer's reachability.
func reachWord(r directoryv1.Reachability) string {
	switch r {
	case directoryv1.Reachability_REACHABILITY_DIRECT:
		return "direct"
	case directoryv1.Reachability_REACHABILITY_RELAYED:
		return "relayed"
	case directoryv1.Reachability_REACHABILITY_UNREACHABLE:
		return "unreachable"
	}
	return "-"
}
