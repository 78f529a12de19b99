package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
)

// TestPeerTakesIssuerFromDirectory runs a directory whose tokens carry an
// issuer of its own (--issuer) and checks that its peers accept them: a
// peer must verify tokens against the issuer GetInfo announces, not the
// default one, or it refuses every download.
func TestPeerTakesIssuerFromDirectory(t *testing.T) {
	t.Parallel()
	const issuer = "peerhub-e2e-issuer"
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	dir, err := server.New(ctx, server.Config{
		InsecurePlaintext: true,
		Listen:            "127.0.0.1:0",
		Data:              t.TempDir(),
		ShutdownGrace:     time.Second,
		Directory:         directory.Config{Issuer: issuer, PasswordCost: bcrypt.MinCost},
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "p1"} {
		if err := dir.Directory().AddUser(ctx, u, "secret-"+u); err != nil {
			dir.Close()
			t.Fatal(err)
		}
	}
	dirURL := serve(t, dir.Listen, dir.URL, dir.Serve, dir.Close)

	share := t.TempDir()
	content := testutil.RandBytes(3<<20, 31)
	if err := os.WriteFile(filepath.Join(share, "issued.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := peer.New(ctx, peer.Config{
		InsecurePlaintext: true,
		Share:             share, User: "p1", Password: "secret-p1",
		Listen: "127.0.0.1:0", Directory: dirURL, ShutdownGrace: time.Second,
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, p.Listen, p.URL, p.Serve, p.Close)

	alice := loggedIn(t, session.Config{Directory: dirURL, Username: "alice", Password: "secret-alice"})
	var cand downloader.Candidate
	testutil.Eventually(t, 0, "the peer's file is published", func() error {
		cand, err = downloader.Resolve(t.Context(), alice.Client(), "issued.bin")
		return err
	})
	dest := filepath.Join(t.TempDir(), "issued.bin")
	if _, err := downloader.Download(t.Context(), cand.Target, cand.Sources, downloader.Options{Dest: dest, Tokens: alice.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)}); err != nil {
		t.Fatalf("download from a peer of a directory with issuer %q: %v", issuer, err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("downloaded file: %d bytes, %v; want the shared content", len(got), err)
	}
}

// serve runs one role (a directory or a peer) through its lifecycle for the
// test: Listen, Serve until the test ends, then Close. It returns the URL
// the role is reached at.
func serve(t *testing.T, listen func(context.Context) (net.Listener, error), url func(net.Listener) string,
	run func(context.Context, net.Listener) error, closeFn func() error) string {
	t.Helper()
	ln, err := listen(context.Background())
	if err != nil {
		closeFn()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- errors.Join(run(ctx, ln), closeFn()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", url(ln), err)
		}
	})
	return url(ln)
}
