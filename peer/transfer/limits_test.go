package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(3*transfer.MinChunkSize, 5)
	s := newShare(t, map[string][]byte{"f": data})
	r := transfer.Range{Target: transfer.Target{Name: "f"}}

	// hold starts a download that sends its first chunk and then blocks
	// until release is closed.
	hold := func(svc *transfer.Service, release <-chan struct{}) <-chan error {
		sent := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- svc.Download(t.Context(), r, func(int64, []byte) error {
				select {
				case <-sent:
				default:
					close(sent)
					<-release
				}
				return nil
			})
		}()
		<-sent
		return done
	}

	t.Run("no queue", func(t *testing.T) {
		t.Parallel()
		svc := s.service(t, transfer.Options{MaxTransfers: 1, MaxQueue: -1, ChunkSize: transfer.MinChunkSize, AcceptUploads: true})
		release := make(chan struct{})
		first := hold(svc, release)
		if _, _, err := download(t.Context(), svc, r); !errors.Is(err, transfer.ErrBusy) {
			t.Errorf("second download: %v, want ErrBusy", err)
		}
		// Uploads take the same slots.
		_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "u", Size: 0, SHA256: testutil.SHA256Hex(nil)}, chunks(nil))
		if !errors.Is(err, transfer.ErrBusy) {
			t.Errorf("upload: %v, want ErrBusy", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if got, _, err := download(t.Context(), svc, r); err != nil || !bytes.Equal(got, data) {
			t.Errorf("download after release: %v", err)
		}
	})

	t.Run("queue", func(t *testing.T) {
		t.Parallel()
		svc := s.service(t, transfer.Options{MaxTransfers: 1, MaxQueue: 1, ChunkSize: transfer.MinChunkSize})
		release := make(chan struct{})
		first := hold(svc, release)
		// The second waits in the queue...
		second := make(chan error, 1)
		go func() {
			got, _, err := download(t.Context(), svc, r)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong content")
			}
			second <- err
		}()
		// ...so, once it is queued, the third is refused.
		testutil.Eventually(t, 0, "second download queued", func() error {
			if running, waiting := svc.Load(); running != 1 || waiting != 1 {
				return fmt.Errorf("%d running, %d waiting", running, waiting)
			}
			return nil
		})
		if _, _, err := download(t.Context(), svc, r); !errors.Is(err, transfer.ErrBusy) {
			t.Fatalf("third download: %v, want ErrBusy", err)
		}
		// A queued request whose caller gives up leaves the queue.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		svc2 := s.service(t, transfer.Options{MaxTransfers: 1, MaxQueue: 1, ChunkSize: transfer.MinChunkSize})
		release2 := make(chan struct{})
		held := hold(svc2, release2)
		if _, _, err := download(ctx, svc2, r); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("queued download past its deadline: %v, want DeadlineExceeded", err)
		}
		close(release2)
		<-held

		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Errorf("queued download: %v", err)
		}
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	const (
		size  = 3 << 20   // bytes
		chunk = 256 << 10 // bytes
		rate  = 4 << 20   // bytes per second
	)
	data := testutil.RandBytes(size, 6)
	s := newShare(t, map[string][]byte{"f": data})
	svc := s.service(t, transfer.Options{MaxRate: rate, ChunkSize: chunk})
	// The limit is shared: two downloads of half the file each take as long
	// as one of all of it. The first chunk-sized burst is free.
	want := time.Duration(float64(size-chunk) / rate * float64(time.Second))
	start := time.Now()
	var wg sync.WaitGroup
	for _, off := range []int64{0, size / 2} {
		wg.Go(func() {
			got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{Name: "f"}, Offset: off, Length: size / 2})
			if err != nil || !bytes.Equal(got, data[off:off+size/2]) {
				t.Errorf("download at %d: %v", off, err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took < want {
		t.Errorf("%d bytes at %d B/s took %v, want at least %v", size, rate, took, want)
	}
}
