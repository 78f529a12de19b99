package transfer_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
	"github.com/peerhub/peerhub/peer/transfer"
)

// diskFullPoints are the write points of a received upload, each as the
// outfs.Faulty rule that fills the disk there: the operation, the names it
// applies to and how many calls succeed first.
var diskFullPoints = []struct {
	name   string
	op     outfs.Op
	suffix string
	after  int
}{
	{"create incoming folder", outfs.OpMkdir, transfer.IncomingDir, 0},
	{"create temporary file", outfs.OpCreate, ".upload", 0},
	{"first write", outfs.OpWrite, ".upload", 0},
	{"third write", outfs.OpWrite, ".upload", 2},
	{"sync", outfs.OpSync, ".upload", 0},
	{"create parent folders", outfs.OpMkdir, "in/deep", 0},
	{"link into place", outfs.OpLink, "in/deep/new.bin", 0},
}

// TestUploadDiskFull fills the disk at each write point of a received
// upload (through an outfs.Faulty over the real shared folder): Upload
// fails with ErrNoSpace and a message that says the peer's disk is full
// and names none of its paths; the shared folder keeps what it had, holds
// nothing of the upload (neither under its name nor in IncomingDir), the
// service keeps serving, and once there is room the same upload succeeds.
func TestUploadDiskFull(t *testing.T) {
	t.Parallel()
	keep := testutil.RandBytes(100_000, 7)
	data := testutil.RandBytes(300_000, 8) // five chunks of chunks()
	h := transfer.UploadHeader{Name: "in/deep/new.bin", Size: int64(len(data)), SHA256: testutil.SHA256Hex(data)}
	for _, p := range diskFullPoints {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			sh := newShare(t, map[string][]byte{"keep.txt": keep})
			real, err := outfs.Open(sh.dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { real.Close() })
			disk := outfs.NewFaulty(real)
			disk.FailAfter(p.op, p.suffix, p.after)
			svc := sh.service(t, transfer.Options{AcceptUploads: true, Folder: disk})

			_, err = svc.Upload(t.Context(), h, chunks(data))
			if !errors.Is(err, transfer.ErrNoSpace) {
				t.Fatalf("Upload: %v, want ErrNoSpace", err)
			}
			if got := disk.Calls(p.op, p.suffix); got != p.after+1 {
				t.Errorf("%s was called %d times, want %d (the failing call last)", p.op, got, p.after+1)
			}
			msg := err.Error()
			if !strings.Contains(msg, "peer's disk is full") || !strings.Contains(msg, h.Name) {
				t.Errorf("message %q does not say the peer's disk is full while storing %s", msg, h.Name)
			}
			for _, leak := range []string{transfer.IncomingDir, ".upload", sh.dir, "no space left"} {
				if strings.Contains(msg, leak) {
					t.Errorf("message %q names the peer's internals (%q)", msg, leak)
				}
			}
			assertNoTemp(t, sh.dir)
			assertAbsent(t, sh.dir, h.Name)
			if got := readFile(t, filepath.Join(sh.dir, "keep.txt")); !bytes.Equal(got, keep) {
				t.Error("keep.txt changed")
			}
			if got := topLevel(t, sh.dir); !slices.Equal(got, []string{".peerhub", "keep.txt"}) && !slices.Equal(got, []string{".peerhub", "in", "keep.txt"}) {
				t.Errorf("shared folder holds %v after the failure", got)
			}

			// The peer keeps serving what it shares.
			got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{Name: "keep.txt"}})
			if err != nil || !bytes.Equal(got, keep) {
				t.Fatalf("download after the failure: %d bytes, %v", len(got), err)
			}

			// With room again the upload starts over and is stored whole.
			disk.MakeRoom()
			if _, err := svc.Upload(t.Context(), h, chunks(data)); err != nil {
				t.Fatalf("Upload with room: %v", err)
			}
			if got := readFile(t, filepath.Join(sh.dir, filepath.FromSlash(h.Name))); !bytes.Equal(got, data) {
				t.Error("stored upload differs from what was sent")
			}
			assertNoTemp(t, sh.dir)
		})
	}
}

// topLevel lists the names in dir.
func topLevel(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// readFile returns the content of the file at path.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
