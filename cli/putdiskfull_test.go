package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestPutDiskFull puts a file to a peer whose disk fills up while the
// upload is written (the second write of its temporary file fails with
// ENOSPC, through an outfs.Faulty over the peer's real shared folder): put
// exits 1 saying the peer's disk is full (not to try again later), the peer
// keeps nothing of it, and with room again the same put stores it.
func TestPutDiskFull(t *testing.T) {
	t.Parallel()
	var disk *outfs.Faulty
	n := testnet.Start(t, testnet.Options{})
	p := n.AddPeer("p1", testnet.PeerOptions{AcceptUploads: true, UploadFolder: func(share string) (outfs.Folder, error) {
		d, err := outfs.Open(share)
		if err != nil {
			return nil, err
		}
		disk = outfs.NewFaulty(d)
		disk.FailAfter(outfs.OpWrite, ".upload", 1)
		return disk, nil
	}})
	local := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(local, testutil.RandBytes(3<<20, 13), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	testutil.Eventually(t, 10*time.Second, "p1 comes online", func() error {
		if r := run(t, env, "", "peers"); !strings.Contains(r.out, p.URL) {
			return fmt.Errorf("not listed: %s%s", r.out, r.err)
		}
		return nil
	})

	r := run(t, env, "", "put", local, "--to", p.URL)
	if r.code != 1 || !strings.Contains(r.err, "peer's disk is full") || strings.Contains(r.err, "try again") {
		t.Fatalf("put to a full disk: exit %d, stderr %q; want 1 and a message saying the peer's disk is full", r.code, r.err)
	}
	t.Logf("put to a full disk said: %s", r.err)
	if _, err := os.Lstat(filepath.Join(p.Share, "big.bin")); err == nil {
		t.Error("big.bin stored although the disk was full")
	}
	if left := listDir(t, filepath.Join(p.Share, filepath.FromSlash(transfer.IncomingDir))); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	disk.MakeRoom()
	if r := run(t, env, "", "put", local, "--to", p.URL); r.code != 0 {
		t.Fatalf("put with room: exit %d: %s", r.code, r.err)
	}
	if got := listDir(t, p.Share); !slices.Contains(got, "big.bin") {
		t.Fatalf("share holds %v, want big.bin", got)
	}
}
