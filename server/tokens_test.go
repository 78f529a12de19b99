package server_test

import (
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/token"
)

// TestScopedTokens checks, over Connect and gRPC, which calls accept which
// token: the session token every call, a read token only the read-only
// calls, a download or upload token none; and IssueToken's rules.
func TestScopedTokens(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
			client := e.login(bob, bobPW, "", "")
			issue := func(scope directoryv1.TokenScope, peer string) string {
				t.Helper()
				res := call(t, e, p, client.GetToken(), "IssueToken", &directoryv1.IssueTokenRequest{Scope: scope, Peer: peer}, &directoryv1.IssueTokenResponse{})
				if res.GetToken() == "" || !res.GetExpiresAt().AsTime().Equal(e.clock.Now().Add(token.TransferTTL)) {
					t.Fatalf("IssueToken(%v, %q) = %v", scope, peer, res)
				}
				return res.GetToken()
			}
			download := issue(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, alice)
			upload := issue(directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD, alice)
			read := issue(directoryv1.TokenScope_TOKEN_SCOPE_READ, "")
			// A status token goes to the account that owns the peer name
			// only; bob is refused alice's.
			expectCode(t, e, p, client.GetToken(), "IssueToken", &directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_STATUS, Peer: alice}, &directoryv1.IssueTokenResponse{}, connect.CodePermissionDenied)
			statusRes := call(t, e, p, peer.GetToken(), "IssueToken", &directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_STATUS, Peer: alice}, &directoryv1.IssueTokenResponse{})
			status := statusRes.GetToken()
			if c := claimsOf(t, status); c.Scope != token.ScopeStatus || !c.HasAudience(alice) || c.Subject != alice {
				t.Errorf("status token claims %+v, want scope status, audience and subject %s", c, alice)
			}

			reads := map[string]bool{"Search": true, "ListPeers": true, "ListFiles": true}
			for _, c := range authedCalls {
				if c.method == "Logout" {
					continue // below, once the rest is done
				}
				for _, tok := range []string{download, upload, status} {
					expectCode(t, e, p, tok, c.method, c.req, proto.Clone(c.res), connect.CodeUnauthenticated)
				}
				if reads[c.method] {
					call(t, e, p, read, c.method, c.req, proto.Clone(c.res))
				} else {
					err := p.invoke(t.Context(), e, read, c.method, c.req, proto.Clone(c.res))
					if codeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "needs a session token") {
						t.Errorf("%s with a read token: %v, want Unauthenticated saying a session token is needed", c.method, err)
					}
				}
			}

			for _, bad := range []struct {
				req  *directoryv1.IssueTokenRequest
				want connect.Code
			}{
				{&directoryv1.IssueTokenRequest{}, connect.CodeInvalidArgument},
				{&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_READ, Peer: alice}, connect.CodeInvalidArgument},
				{&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD}, connect.CodeInvalidArgument},
				{&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_STATUS}, connect.CodeInvalidArgument},
				{&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_STATUS, Peer: "ghost"}, connect.CodeNotFound},
				{&directoryv1.IssueTokenRequest{Scope: 7, Peer: alice}, connect.CodeInvalidArgument},
				{&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD, Peer: "ghost"}, connect.CodeNotFound},
			} {
				expectCode(t, e, p, client.GetToken(), "IssueToken", bad.req, &directoryv1.IssueTokenResponse{}, bad.want)
			}

			// A logout is announced to peers at their next heartbeat; a
			// client hears nothing of it.
			call(t, e, p, client.GetToken(), "Logout", &directoryv1.LogoutRequest{}, &directoryv1.LogoutResponse{})
			hb := call(t, e, p, peer.GetToken(), "Heartbeat", &directoryv1.HeartbeatRequest{}, &directoryv1.HeartbeatResponse{})
			if !slices.Equal(hb.GetRevokedSessionIds(), []string{client.GetSessionId()}) {
				t.Errorf("peer heartbeat lists %v, want [%s]", hb.GetRevokedSessionIds(), client.GetSessionId())
			}
			other := e.login(bob, bobPW, "", "")
			if hb := call(t, e, p, other.GetToken(), "Heartbeat", &directoryv1.HeartbeatRequest{}, &directoryv1.HeartbeatResponse{}); len(hb.GetRevokedSessionIds()) != 0 {
				t.Errorf("client heartbeat lists %v", hb.GetRevokedSessionIds())
			}
			// The read token died with its session.
			expectCode(t, e, p, read, "Search", &directoryv1.SearchRequest{Query: "abc"}, &directoryv1.SearchResponse{}, connect.CodeUnauthenticated)
		})
	}
}

// claimsOf decodes a token's claims without verifying it: the test only
// reads what the directory put in.
func claimsOf(t *testing.T, raw string) token.Claims {
	t.Helper()
	var c token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		t.Fatalf("decode token: %v", err)
	}
	return c
}
