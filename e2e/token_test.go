package e2e_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestTokenEncodingIsCanonical takes live tokens from a real directory (a
// session token, and a download token for the peer) and presents them
// re-encoded (the same bytes, a padding bit set) and tampered (a signature
// bit flipped) to the directory and to the peer: both refuse both, and the
// live tokens keep working.
func TestTokenEncodingIsCanonical(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"a.txt": []byte("hello")}})

	bearer := func(tok string) []connect.ClientOption {
		var b rpcclient.Token
		b.Set(tok)
		return rpcclient.Options(&b)
	}
	login, err := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL).
		Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "alice", Password: testnet.Password}))
	if err != nil {
		t.Fatal(err)
	}
	live := login.Msg.GetToken()
	t.Cleanup(func() {
		dir := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL, bearer(live)...)
		_, _ = dir.Logout(context.Background(), connect.NewRequest(&directoryv1.LogoutRequest{}))
	})
	var liveDownload string
	testutil.Eventually(t, 10*time.Second, "a download token for p1", func() error {
		res, err := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL, bearer(live)...).
			IssueToken(t.Context(), connect.NewRequest(&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, Peer: "p1"}))
		if err == nil {
			liveDownload = res.Msg.GetToken()
		}
		return err
	})

	atDirectory := func(tok string) error {
		dir := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL, bearer(tok)...)
		_, err := dir.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
		return err
	}
	atPeer := func(tok string) error {
		peer := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p1.URL, bearer(tok)...)
		_, err := peer.Stat(t.Context(), connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Name{Name: "a.txt"}}))
		return err
	}
	for _, at := range []struct {
		role string
		live string
		call func(string) error
	}{{"directory", live, atDirectory}, {"peer", liveDownload, atPeer}} {
		for _, bad := range []struct{ name, tok string }{
			{"non-canonical", testutil.NonCanonical(t, at.live)},
			{"tampered", testutil.FlipSignatureBit(t, at.live)},
		} {
			if err := at.call(bad.tok); connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("%s token at the %s: %v, want unauthenticated", bad.name, at.role, err)
			}
		}
		if err := at.call(at.live); err != nil {
			t.Errorf("live token refused at the %s after the attempts: %v", at.role, err)
		}
	}
}
