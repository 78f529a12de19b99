package downloader_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

func TestUpload(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "up.bin", 3*mib+5)
	local := filepath.Join(src, "up.bin")
	open := startPeer(t, a, t.TempDir(), peerOptions{acceptUploads: true})
	closed := startPeer(t, a, t.TempDir(), peerOptions{})
	if err := os.WriteFile(filepath.Join(open.Dir, "taken.bin"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		peer     *testPeer
		as       string // name to store under
		token    *rpcclient.Token
		wantCode connect.Code
	}{
		{name: "stored under its base name", peer: open},
		{name: "stored in a folder", peer: open, as: "in/a/folder.bin"},
		{name: "name taken", peer: open, as: "taken.bin", wantCode: connect.CodeAlreadyExists},
		{name: "uploads disabled", peer: closed, wantCode: connect.CodePermissionDenied},
		{name: "no token", peer: open, as: "anon.bin", token: new(rpcclient.Token), wantCode: connect.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			if tok == nil {
				tok = a.token(t)
			}
			var last int64
			res, err := downloader.Upload(t.Context(), tt.peer.URL, local, downloader.UploadOptions{
				Name: tt.as, Token: tok,
				Progress: func(sent, total int64) { last = sent },
			})
			if tt.wantCode != 0 {
				if connect.CodeOf(err) != tt.wantCode {
					t.Fatalf("Upload: %v, want %v", err, tt.wantCode)
				}
				if tt.as != "" && tt.as != "taken.bin" {
					if _, serr := os.Stat(filepath.Join(tt.peer.Dir, filepath.FromSlash(tt.as))); serr == nil {
						t.Error("a refused upload left a file")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.as
			if want == "" {
				want = "up.bin"
			}
			if res.GetName() != want || res.GetSha256() != sum || res.GetSize() != 3*mib+5 || last != 3*mib+5 {
				t.Errorf("Upload = %v (progress %d), want %s, %s", res, last, want, sum)
			}
			if got := testutil.FileSHA256(t, filepath.Join(tt.peer.Dir, filepath.FromSlash(want))); got != sum {
				t.Errorf("stored sha256 %s, want %s", got, sum)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(open.Dir, "taken.bin")); !bytes.Equal(b, []byte("mine")) {
		t.Errorf("taken.bin was replaced with %d bytes", len(b))
	}
}

func TestUploadMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := downloader.Upload(t.Context(), "http://127.0.0.1:1", filepath.Join(t.TempDir(), "nope"), downloader.UploadOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Upload of a missing file: %v, want not exist", err)
	}
}
