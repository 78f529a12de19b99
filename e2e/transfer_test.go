package e2e_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// TestUploadDownloadSizes sends files of awkward sizes up to one peer with
// Upload and back down with Download, through a real directory's tokens,
// and compares SHA-256s.
func TestUploadDownloadSizes(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{})
	p2 := n.AddPeer("p2", testnet.PeerOptions{AcceptUploads: true, MaxUploadSize: 200 << 20})
	s := keptAlive(t, aliceAt(n))
	// Tokens are issued for online peers only.
	testutil.Eventually(t, 10*time.Second, "p2 comes online", func() error {
		if _, ok := peerNames(t, s.Client())["p2"]; !ok {
			return errors.New("not listed")
		}
		return nil
	})

	sizes := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one-byte", 1},
		{"piece-minus-one", pieces.Size - 1},
		{"one-piece", pieces.Size},
		{"piece-plus-one", pieces.Size + 1},
		{"hundred-mib", 100 << 20},
	}
	src := t.TempDir()
	for i, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			local := filepath.Join(src, tc.name+".bin")
			want := testutil.WriteRandomFile(t, local, int64(tc.size), uint64(i))
			up, err := downloader.Upload(t.Context(), p2.URL, local, downloader.UploadOptions{Name: "up/" + tc.name + ".bin", Token: transferToken(t, s, directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD, "p2")})
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			if up.GetSha256() != want || up.GetSize() != int64(tc.size) {
				t.Fatalf("stored %s/%d, want %s/%d", up.GetSha256(), up.GetSize(), want, tc.size)
			}
			// The peer indexes it (watcher), then serves it by hash.
			var info *peerv1.StatResponse
			client := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p2.URL,
				rpcclient.Options(transferToken(t, s, directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, "p2"), rpcclient.NoCompression())...)
			testutil.Eventually(t, 10*time.Second, "the uploaded file is indexed", func() error {
				res, err := client.Stat(t.Context(), connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Sha256{Sha256: up.GetSha256()}}))
				if err == nil {
					info = res.Msg
				}
				return err
			})
			dest := filepath.Join(t.TempDir(), "down.bin")
			_, err = downloader.Download(t.Context(),
				downloader.Target{SHA256: info.GetSha256(), Size: info.GetSize(), PieceSize: int64(info.GetPieceSize()), PieceRoot: info.GetPieceRoot()},
				[]downloader.Source{{Peer: "p2", Address: p2.URL}},
				downloader.Options{Dest: dest, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)})
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			if got := testutil.FileSHA256(t, dest); got != want {
				t.Fatalf("downloaded content's sha256 %s, want %s", got, want)
			}
		})
	}
}

// transferToken asks the directory, through s, for a token of scope for
// peer, as a client does before a transfer. Tokens are issued for online
// peers only, so it waits for peer to have logged in.
func transferToken(t *testing.T, s *session.Session, scope directoryv1.TokenScope, peer string) *rpcclient.Token {
	t.Helper()
	var raw string
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("a %v token for %s", scope, peer), func() error {
		var err error
		raw, err = s.Tokens(scope).Token(t.Context(), peer)
		return err
	})
	var tok rpcclient.Token
	tok.Set(raw)
	return &tok
}
