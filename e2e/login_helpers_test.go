package e2e_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/peer/session"
)

// aliceAt is the session configuration of alice, the test network's usual
// account, logging in at n's directory without a peer name: a client.
func aliceAt(n *testnet.Network) session.Config {
	return session.Config{Directory: n.DirectoryURL, Username: "alice", Password: testnet.Password}
}

// loggedIn logs in with cfg and logs out when the test ends.
func loggedIn(t *testing.T, cfg session.Config) *session.Session {
	t.Helper()
	s := session.New(cfg)
	if err := s.Login(t.Context()); err != nil {
		t.Fatalf("%s logs in: %v", cfg.Username, err)
	}
	t.Cleanup(func() { s.Logout(context.Background()) })
	return s
}

// keptAlive logs in with cfg and keeps the session alive (heartbeats,
// token renewal) until the test ends, then logs out.
func keptAlive(t *testing.T, cfg session.Config) *session.Session {
	t.Helper()
	s := loggedIn(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	go s.KeepAlive(ctx)
	t.Cleanup(cancel) // runs before loggedIn's logout
	return s
}

// client logs in as alice and keeps the session alive for the test.
func client(t *testing.T, n *testnet.Network) directoryv1connect.DirectoryServiceClient {
	t.Helper()
	return keptAlive(t, aliceAt(n)).Client()
}

// listPeers returns field of each online peer, by peer name; nil (logged)
// when the listing fails, so that a poller tries again.
func listPeers[V any](t *testing.T, c directoryv1connect.DirectoryServiceClient, field func(*directoryv1.PeerInfo) V) map[string]V {
	t.Helper()
	res, err := c.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
	if err != nil {
		t.Logf("list peers: %v", err)
		return nil
	}
	m := map[string]V{}
	for _, p := range res.Msg.GetPeers() {
		m[p.GetName()] = field(p)
	}
	return m
}

// peerNames returns the online peers' names and their file counts.
func peerNames(t *testing.T, c directoryv1connect.DirectoryServiceClient) map[string]int64 {
	t.Helper()
	return listPeers(t, c, (*directoryv1.PeerInfo).GetFileCount)
}

// owners returns the online peers' names and their accounts.
func owners(t *testing.T, c directoryv1connect.DirectoryServiceClient) map[string]string {
	t.Helper()
	return listPeers(t, c, (*directoryv1.PeerInfo).GetUsername)
}
