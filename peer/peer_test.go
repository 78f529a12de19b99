package peer_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer"
)

// unreachable is a directory URL nothing listens on: the peer keeps trying
// to log in, and serves meanwhile.
func unreachable(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// TestLifecycle runs a peer as its owner does (New, Listen, URL, Serve,
// Close) and checks what each step leaves: Serve serves at URL until its
// context ends and leaves the index open; Close closes it, once.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	share := t.TempDir()
	testutil.WriteFile(t, share, "a.txt", []byte("shared"))
	p, err := peer.New(t.Context(), peer.Config{
		InsecurePlaintext: true,
		Share:             share, User: "p1", Password: "secret",
		Listen: "127.0.0.1:0", Directory: unreachable(t), ShutdownGrace: time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.Listen(t.Context())
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	if want := "http://" + ln.Addr().String(); p.URL(ln) != want {
		t.Errorf("URL = %q, want %q", p.URL(ln), want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()

	// It serves PeerService at its URL (and asks for a token).
	client := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p.URL(ln))
	testutil.Eventually(t, 0, "PeerService answers", func() error {
		_, err := client.Stat(t.Context(), connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Name{Name: "a.txt"}}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			return err
		}
		return nil
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := p.Index().Scan(t.Context()); err != nil {
		t.Fatalf("after Serve, before Close, the index is closed: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := p.Index().Scan(t.Context()); err == nil {
		t.Error("after Close the index still scans")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestURLAdvertised checks that a peer is reached at its --advertise URL
// when it has one, whatever it listens on.
func TestURLAdvertised(t *testing.T) {
	t.Parallel()
	p, err := peer.New(t.Context(), peer.Config{
		InsecurePlaintext: true,
		Share:             t.TempDir(), User: "p1", Password: "secret",
		Listen: "127.0.0.1:0", Advertise: "http://p1.example:8001", Directory: unreachable(t),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := p.Listen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := p.URL(ln); got != "http://p1.example:8001" {
		t.Errorf("URL = %q, want the advertised one", got)
	}
}
