package transfer_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestUploadTotal bounds what uploads store together: each file fits
// MaxUploadSize, the sum does not fit MaxUploadTotal. The total counts
// running uploads, survives a restart, and leaves out failed uploads.
func TestUploadTotal(t *testing.T) {
	t.Parallel()
	s := newShare(t, nil)
	data := testutil.RandBytes(1000, 9)
	opts := transfer.Options{AcceptUploads: true, MaxUploadSize: 1000, MaxUploadTotal: 2500}
	svc := s.service(t, opts)
	upload := func(svc *transfer.Service, name string, next transfer.NextFunc) error {
		_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: name, Size: int64(len(data)), SHA256: testutil.SHA256Hex(data)}, next)
		return err
	}
	if err := upload(svc, "a.bin", chunks(data)); err != nil {
		t.Fatal(err)
	}
	// A failed upload does not count.
	if err := upload(svc, "bad.bin", chunks(data[:999])); !errors.Is(err, transfer.ErrMismatch) {
		t.Fatalf("short upload: %v", err)
	}
	// A running upload counts: while b.bin arrives, c.bin does not fit.
	arriving := make(chan struct{})
	resume := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		next := chunks(data)
		done <- upload(svc, "b.bin", func() ([]byte, error) {
			if first {
				first = false
				close(arriving)
				<-resume
			}
			return next()
		})
	}()
	<-arriving
	err := upload(svc, "c.bin", chunks(data))
	if !errors.Is(err, transfer.ErrTooLarge) || !strings.Contains(err.Error(), "at most 2500 bytes of uploads in total") {
		t.Errorf("upload past the total while one runs: %v, want ErrTooLarge naming 2500", err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, s.dir, "c.bin")

	// A restarted peer remembers: 2000 stored, 1000 more do not fit.
	again := s.service(t, opts)
	if err := upload(again, "c.bin", chunks(data)); !errors.Is(err, transfer.ErrTooLarge) {
		t.Errorf("after a restart: %v, want ErrTooLarge", err)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(transfer.UploadTotalFile)))
	if err != nil || strings.TrimSpace(string(b)) != "2000" {
		t.Errorf("%s = %q, %v", transfer.UploadTotalFile, b, err)
	}
	// Deleting the file counts from zero.
	if err := os.Remove(filepath.Join(s.dir, filepath.FromSlash(transfer.UploadTotalFile))); err != nil {
		t.Fatal(err)
	}
	if err := upload(s.service(t, opts), "c.bin", chunks(data)); err != nil {
		t.Errorf("after deleting the total: %v", err)
	}
	assertNoTemp(t, s.dir)
}

func TestUploadTotalFileMalformed(t *testing.T) {
	t.Parallel()
	s := newShare(t, map[string][]byte{transfer.UploadTotalFile: []byte("lots")})
	o := transfer.Options{AcceptUploads: true, Catalog: s.ix, Root: s.ix.Root()}
	if _, err := transfer.New(o); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("New with a malformed total = %v", err)
	}
	o.AcceptUploads = false
	if _, err := transfer.New(o); err != nil {
		t.Errorf("without uploads the total is not read: %v", err)
	}

}
