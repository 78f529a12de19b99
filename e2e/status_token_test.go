package e2e_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// TestStatusToken: a peer answers Status only with a status token for
// itself, which the directory issues to the peer's owner only; the status
// token opens nothing else at the peer, nor the same call at another peer
// of the same owner; a download token does not open Status.
func TestStatusToken(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{User: "ann", Files: map[string][]byte{"a.txt": []byte("a")}})
	p2 := n.AddPeer("p2", testnet.PeerOptions{User: "ann"})
	ann := session.New(session.Config{Directory: n.DirectoryURL, Username: "ann", Password: testnet.Password})
	if err := ann.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ann.Logout(context.Background()) })
	status := transferToken(t, ann, directoryv1.TokenScope_TOKEN_SCOPE_STATUS, "p1").Get()
	download := transferToken(t, ann, directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, "p1").Get()

	statusAt := func(url, tok string) error {
		_, err := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), url, bearerOptions(tok)...).
			Status(t.Context(), connect.NewRequest(&peerv1.StatusRequest{}))
		return err
	}
	// Each peer answers its own status token once it has logged in (so a
	// refusal below is about the token, not a peer still logging in).
	testutil.Eventually(t, 0, "p1 answers its own status token", func() error { return statusAt(p1.URL, status) })
	own := transferToken(t, ann, directoryv1.TokenScope_TOKEN_SCOPE_STATUS, "p2").Get()
	testutil.Eventually(t, 0, "p2 answers its own status token", func() error { return statusAt(p2.URL, own) })
	for what, err := range map[string]error{
		"Status at p2 with p1's status token": statusAt(p2.URL, status),
		"Status at p1 with a download token":  statusAt(p1.URL, download),
		"Stat at p1 with a status token":      statWith(t, p1.URL, status, "a.txt"),
	} {
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", what, err)
		}
	}
	// alice owns neither peer.
	_, err := clientSession(t, n).Tokens(directoryv1.TokenScope_TOKEN_SCOPE_STATUS).Token(t.Context(), "p1")
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("alice's status token for p1: %v, want PermissionDenied", err)
	}
}
