package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

func TestUpload(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(300_000, 4)
	good := transfer.UploadHeader{Name: "in/deep/new.bin", Size: int64(len(data)), SHA256: testutil.SHA256Hex(data)}
	with := func(f func(*transfer.UploadHeader)) transfer.UploadHeader {
		h := good
		f(&h)
		return h
	}
	failing := errors.New("stream broke")
	tests := []struct {
		name    string
		opts    transfer.Options
		free    int64 // free disk space; 0 = real
		h       transfer.UploadHeader
		next    func() transfer.NextFunc
		ctx     func(context.Context) context.Context
		wantErr error
	}{
		{"ok", transfer.Options{}, 0, good, nil, nil, nil},
		{"ok empty", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size, h.SHA256 = 0, testutil.SHA256Hex(nil) }),
			func() transfer.NextFunc { return chunks(nil) }, nil, nil},
		{"ok at max size", transfer.Options{MaxUploadSize: int64(len(data))}, 0, good, nil, nil, nil},
		{"disabled", transfer.Options{AcceptUploads: false}, 0, good, nil, nil, transfer.ErrUploadsDisabled},
		{"exists", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Name = "taken.txt" }), nil, nil, transfer.ErrExists},
		{"parent is a file", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Name = "taken.txt/x" }), nil, nil, transfer.ErrExists},
		{"existing folder", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Name = "dir" }), nil, nil, transfer.ErrExists},
		{"too large", transfer.Options{MaxUploadSize: int64(len(data)) - 1}, 0, good, nil, nil, transfer.ErrTooLarge},
		{"no space", transfer.Options{}, int64(len(data)) - 1, good, nil, nil, transfer.ErrNoSpace},
		{"bad sha format", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.SHA256 = "abc" }), nil, nil, transfer.ErrInvalid},
		{"negative size", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size = -1 }), nil, nil, transfer.ErrInvalid},
		{"wrong sha", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.SHA256 = testutil.SHA256Hex([]byte("other")) }), nil, nil, transfer.ErrMismatch},
		{"fewer bytes", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size++ }), nil, nil, transfer.ErrMismatch},
		{"more bytes", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size-- }), nil, nil, transfer.ErrMismatch},
		{"stream breaks", transfer.Options{}, 0, good, func() transfer.NextFunc {
			next := chunks(data)
			n := 0
			return func() ([]byte, error) {
				if n++; n > 2 {
					return nil, failing
				}
				return next()
			}
		}, nil, failing},
		{"cancelled", transfer.Options{}, 0, good, nil, func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newShare(t, map[string][]byte{"taken.txt": []byte("mine"), "dir/x": nil})
			if tt.name != "disabled" {
				tt.opts.AcceptUploads = true
			}
			svc := s.service(t, tt.opts)
			if tt.free != 0 {
				transfer.SetFreeSpace(svc, func() (int64, error) { return tt.free, nil })
			}
			next := chunks(data)
			if tt.next != nil {
				next = tt.next()
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			st, err := svc.Upload(ctx, tt.h, next)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Upload: %v, want %v", err, tt.wantErr)
			}
			assertNoTemp(t, s.dir)
			if b, err := os.ReadFile(filepath.Join(s.dir, "taken.txt")); err != nil || string(b) != "mine" {
				t.Errorf("taken.txt = %q, %v", b, err)
			}
			if err != nil {
				if tt.h.Name != "taken.txt" && tt.h.Name != "dir" {
					assertAbsent(t, s.dir, tt.h.Name)
				}
				return
			}
			if st != (transfer.Stored{Name: tt.h.Name, Size: tt.h.Size, SHA256: tt.h.SHA256}) {
				t.Errorf("Stored = %+v", st)
			}
			b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(tt.h.Name)))
			if err != nil || testutil.SHA256Hex(b) != tt.h.SHA256 {
				t.Errorf("stored file: %d bytes, %v", len(b), err)
			}
		})
	}
}

func TestUploadBeforeAnyByte(t *testing.T) {
	t.Parallel()
	// Header errors come before the first chunk is asked for.
	s := newShare(t, nil)
	svc := s.service(t, transfer.Options{AcceptUploads: true, MaxUploadSize: 10})
	transfer.SetFreeSpace(svc, func() (int64, error) { return 15, nil })
	for _, h := range []transfer.UploadHeader{
		{Name: "big", Size: 11, SHA256: testutil.SHA256Hex(nil)},
		{Name: "../big", Size: 1, SHA256: testutil.SHA256Hex(nil)},
	} {
		_, err := svc.Upload(t.Context(), h, func() ([]byte, error) {
			t.Error("read content of a refused upload")
			return nil, io.EOF
		})
		if err == nil {
			t.Errorf("Upload(%+v) succeeded", h)
		}
	}
	// Running uploads count against the free space.
	block := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "first", Size: 10, SHA256: testutil.SHA256Hex(make([]byte, 10))}, func() ([]byte, error) {
			select {
			case <-started:
				return nil, io.EOF
			default:
			}
			close(started)
			<-block
			return make([]byte, 10), nil
		})
		done <- err
	}()
	<-started
	_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "second", Size: 10, SHA256: testutil.SHA256Hex(make([]byte, 10))}, chunks(make([]byte, 10)))
	if !errors.Is(err, transfer.ErrNoSpace) {
		t.Errorf("second upload while the first runs: %v, want ErrNoSpace", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Errorf("first upload: %v", err)
	}
	if _, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "second", Size: 10, SHA256: testutil.SHA256Hex(make([]byte, 10))}, chunks(make([]byte, 10))); err != nil {
		t.Errorf("second upload after the first: %v", err)
	}
	assertAbsent(t, s.dir, "big")
	assertNoTemp(t, s.dir)
}

func TestUploadRace(t *testing.T) {
	t.Parallel()
	// Concurrent uploads to one name: exactly one wins, nothing is
	// overwritten, no temporary file is left.
	s := newShare(t, nil)
	svc := s.service(t, transfer.Options{AcceptUploads: true, MaxTransfers: 16})
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	contents := make([][]byte, n)
	for i := range n {
		contents[i] = testutil.RandBytes(100_000, uint64(100+i))
		wg.Go(func() {
			_, errs[i] = svc.Upload(t.Context(), transfer.UploadHeader{Name: "same/name", Size: 100_000, SHA256: testutil.SHA256Hex(contents[i])}, chunks(contents[i]))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("uploads %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, transfer.ErrExists):
			t.Errorf("upload %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no upload succeeded")
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "same", "name"))
	if err != nil || !bytes.Equal(b, contents[winner]) {
		t.Errorf("stored content is not the winner's (%v)", err)
	}
	assertNoTemp(t, s.dir)
}

func TestUploadedFileIsShared(t *testing.T) {
	t.Parallel()
	s := newShare(t, nil)
	svc := s.service(t, transfer.Options{AcceptUploads: true})
	data := testutil.RandBytes(pieces.Size+1, 8)
	if _, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "up/f.bin", Size: int64(len(data)), SHA256: testutil.SHA256Hex(data)}, chunks(data)); err != nil {
		t.Fatal(err)
	}
	s.rescan(t)
	got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{SHA256: testutil.SHA256Hex(data)}})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download of the upload: %v", err)
	}
	// The incoming folder is peerhub state, never shared.
	for _, e := range s.ix.Snapshot() {
		if strings.HasPrefix(e.Name, sharepath.StateDir) {
			t.Errorf("index shares %s", e.Name)
		}
	}
}
