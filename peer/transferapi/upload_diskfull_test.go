package transferapi_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestUploadDiskFull fills the peer's disk in the middle of an upload (the
// second write of its temporary file fails with ENOSPC, through an
// outfs.Faulty over the real shared folder) over each protocol: the
// uploader gets ResourceExhausted with a message that says the peer's disk
// is full, no temporary file or partial name is left, and the peer keeps
// serving: with room again the same upload is stored.
func TestUploadDiskFull(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(3<<20, 12)
	dir := t.TempDir()
	real, err := outfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	disk := outfs.NewFaulty(real)
	e := serveDir(t, dir, transfer.Options{AcceptUploads: true, Folder: disk})
	callers := e.callers(e.tokens.valid)
	for _, proto := range slices.Sorted(maps.Keys(callers)) {
		c := callers[proto]
		name := proto + "/full.bin"
		disk.FailAfter(outfs.OpWrite, ".upload", 1)
		_, err := c.upload(t.Context(), header(name, data), chunksOf(data, 1<<20))
		wantCode(t, proto+": Upload to a full disk", err, connect.CodeResourceExhausted)
		if msg := err.Error(); !strings.Contains(msg, "peer's disk is full") {
			t.Errorf("%s: message %q does not say the peer's disk is full", proto, msg)
		}
		testutil.Eventually(t, 0, "temporary files removed", func() error {
			if names := incoming(t, e.dir); len(names) > 0 {
				return os.ErrExist
			}
			return nil
		})
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
			t.Errorf("%s: %s exists after the failed upload", proto, name)
		}

		disk.MakeRoom()
		if _, err := c.upload(t.Context(), header(name, data), chunksOf(data, 1<<20)); err != nil {
			t.Fatalf("%s: Upload with room: %v", proto, err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name))); err != nil || !bytes.Equal(b, data) {
			t.Errorf("%s: stored %d bytes (%v), want what was sent", proto, len(b), err)
		}
	}
}
