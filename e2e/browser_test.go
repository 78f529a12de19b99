package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestPeerServesItsDocuments checks that a peer serves the documents of
// PeerService's package at the directory's paths, and reflection with the
// proto comments.
func TestPeerServesItsDocuments(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p := n.AddPeer("p1", testnet.PeerOptions{})
	testutil.ServesDocuments(t, p.URL, peerv1connect.PeerServiceName)
	testutil.DescribeShowsComment(t, strings.TrimPrefix(p.URL, "http://"), peerv1connect.PeerServiceName+".Download", " Download streams")
}

// TestPeerCORS sends a browser's preflights to a peer: with --cors-origin
// the allowed origin may call PeerService and the forwarded directory
// methods over Connect and gRPC-Web; another origin, or any origin of a
// peer without --cors-origin, gets no Access-Control header.
func TestPeerCORS(t *testing.T) {
	t.Parallel()
	const allowed, other = "https://app.example.com", "https://elsewhere.example.com"
	n := testnet.Start(t, testnet.Options{})
	open := n.AddPeer("p1", testnet.PeerOptions{CORS: rpcserver.CORS{Origins: []string{allowed}}})
	closed := n.AddPeer("p2", testnet.PeerOptions{})
	paths := []string{"/" + directoryv1connect.DirectoryServiceName + "/Search"}
	methods := peerv1.File_peerhub_peer_v1_peer_proto.Services().Get(0).Methods()
	for i := range methods.Len() {
		paths = append(paths, "/"+peerv1connect.PeerServiceName+"/"+string(methods.Get(i).Name()))
	}
	protocols := map[string][]string{
		"connect":  {"Authorization", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Content-Type"},
		"grpc-web": {"Authorization", "Content-Type", "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent"},
	}
	for _, path := range paths {
		for protocol, headers := range protocols {
			_, h := testutil.Preflight(t, open.URL+path, allowed, http.MethodPost, headers...)
			if h.Get("Access-Control-Allow-Origin") != allowed || h.Get("Access-Control-Allow-Methods") != http.MethodPost {
				t.Errorf("%s %s from the allowed origin: %v", protocol, path, h)
			}
			if _, h := testutil.Preflight(t, open.URL+path, other, http.MethodPost, headers...); len(h) != 0 {
				t.Errorf("%s %s from another origin: %v", protocol, path, h)
			}
			if _, h := testutil.Preflight(t, closed.URL+path, allowed, http.MethodPost, headers...); len(h) != 0 {
				t.Errorf("%s %s of a peer without --cors-origin: %v", protocol, path, h)
			}
		}
	}
}
