package peer

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/httpfiles"
	"github.com/peerhub/peerhub/peer/session"
)

// transferScopes is the scope of the token each PeerService procedure
// needs.
var transferScopes = map[string]string{
	peerv1connect.PeerServiceStatProcedure:     token.ScopeDownload,
	peerv1connect.PeerServiceDownloadProcedure: token.ScopeDownload,
	peerv1connect.PeerServiceUploadProcedure:   token.ScopeUpload,
	peerv1connect.PeerServiceStatusProcedure:   token.ScopeStatus,
}

// errNotLoggedIn answers calls that come before the peer's first login: it
// does not know its own name yet, so no token can be addressed to it.
var errNotLoggedIn = connect.NewError(connect.CodeUnavailable,
	errors.New("this peer has not logged in at its directory yet, so it accepts no token; try again shortly"))

// transferAuth accepts, for each PeerService call, only a token that the
// peer's directory issued for this very peer (audience: the peer name of
// its login) and for this kind of call (download for Stat and Download,
// upload for Upload, status for Status, which the directory issues only to
// the peer's owner), whose lifetime is within token.MaxLifetime, and whose
// session the directory has not revoked. Whatever else a caller sends (the
// directory's session token, a read token, another peer's token) is
// refused with a message naming the token needed, so a token a peer sees
// is good nowhere else.
func transferAuth(sess *session.Session) rpcserver.Authenticator {
	return func(ctx context.Context, procedure, raw string) (token.Claims, error) {
		scope, ok := transferScopes[procedure]
		if !ok {
			return token.Claims{}, fmt.Errorf("no token opens %s", procedure)
		}
		name := sess.PeerName()
		if name == "" {
			return token.Claims{}, errNotLoggedIn
		}
		c, err := sess.Verifier().VerifyFor(ctx, raw, token.Need{Scopes: []string{scope}, Audience: name})
		if errors.Is(err, token.ErrNotForThis) {
			return token.Claims{}, fmt.Errorf("%w (ask the directory for one: IssueToken; never send a peer your session token)", err)
		}
		if err != nil {
			return token.Claims{}, err
		}
		if sess.Revoked(c.SessionID) {
			return token.Claims{}, errors.New("the token's session has ended (logged out, replaced or removed); log in and ask the directory for a new token")
		}
		return c, nil
	}
}

// readAuth accepts, for the directory calls a peer forwards, only read
// tokens of its directory (audience: the directory's issuer) of sessions
// not revoked: a session token sent to a peer is refused before it goes
// any further. The directory checks the forwarded token again.
func readAuth(sess *session.Session) rpcserver.Authenticator {
	return func(ctx context.Context, _, raw string) (token.Claims, error) {
		if sess.PeerName() == "" {
			return token.Claims{}, errNotLoggedIn
		}
		c, err := sess.Verifier().VerifyFor(ctx, raw, token.Need{Scopes: []string{token.ScopeRead}, Audience: sess.Issuer()})
		if errors.Is(err, token.ErrNotForThis) {
			return token.Claims{}, fmt.Errorf("%w (a peer forwards read-only calls with a read token from the directory's IssueToken; never send a peer your session token)", err)
		}
		if err != nil {
			return token.Claims{}, err
		}
		if sess.Revoked(c.SessionID) {
			return token.Claims{}, errors.New("the token's session has ended; log in again at the directory")
		}
		return c, nil
	}
}

// fileAuth accepts, for a plain HTTP download of content sha (the /files
// route), only a download token that the peer's directory issued for this
// peer and bound to that very content (token.Need.Content), within
// token.MaxLifetime, of a session not revoked. Such a link token rides in a
// URL, so it is good for nothing else: not for another content, not for
// Stat or Download (transferAuth refuses content-bound tokens), not at
// another peer.
func fileAuth(sess *session.Session) httpfiles.Authorizer {
	return func(ctx context.Context, sha, raw string) (token.Claims, error) {
		name := sess.PeerName()
		if name == "" {
			return token.Claims{}, httpfiles.ErrNotReady
		}
		c, err := sess.Verifier().VerifyFor(ctx, raw, token.Need{Scopes: []string{token.ScopeDownload}, Audience: name, Content: sha})
		if err != nil {
			return token.Claims{}, err
		}
		if c.SHA256 == "" {
			return token.Claims{}, errors.New("a download link needs a token bound to its content; ask the directory for a link (IssueToken with sha256)")
		}
		if sess.Revoked(c.SessionID) {
			return token.Claims{}, errors.New("the token's session has ended; ask for a new link")
		}
		return c, nil
	}
}
