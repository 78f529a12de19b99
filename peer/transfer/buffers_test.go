package transfer_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestDownloadBuffersSurviveCollections checks that downloads reuse their
// piece buffers across garbage collections, which a memory limit makes
// frequent: served between collections, a MiB of file costs a few
// kilobytes, not a new 1 MiB buffer per download (what a sync.Pool, emptied
// by collections, would cost). It is not parallel: it counts the
// allocations of the whole process.
func TestDownloadBuffersSurviveCollections(t *testing.T) {
	data := testutil.RandBytes(2*pieces.Size, 11)
	s := newShare(t, map[string][]byte{"f": data})
	svc := s.service(t, transfer.Options{})
	r := transfer.Range{Target: transfer.Target{SHA256: testutil.SHA256Hex(data)}}
	discard := func(int64, []byte) error { return nil }
	if err := svc.Download(t.Context(), r, discard); err != nil { // the first buffer
		t.Fatal(err)
	}
	const runs = 16
	var allocated uint64
	for range runs {
		runtime.GC()
		runtime.GC() // a sync.Pool keeps its contents through one collection
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := svc.Download(t.Context(), r, discard); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		allocated += after.TotalAlloc - before.TotalAlloc
	}
	servedMiB := uint64(runs * len(data) >> 20)
	// Measured: about 600 bytes per MiB (the download's bookkeeping).
	const limit = 16 << 10 // bytes per MiB served
	t.Logf("%d bytes allocated per MiB served", allocated/servedMiB)
	if got := allocated / servedMiB; got > limit {
		t.Errorf("%d downloads of %d MiB, each after a collection, allocated %d bytes per MiB served, want at most %d", runs, len(data)>>20, got, limit)
	}
}

// TestIdleBuffersBounded checks that after many downloads ran at once, the
// service keeps DefaultIdleBuffers piece buffers for the next ones, not
// one per download that ran.
func TestIdleBuffersBounded(t *testing.T) {
	data := testutil.RandBytes(pieces.Size, 12)
	s := newShare(t, map[string][]byte{"f": data})
	svc := s.service(t, transfer.Options{MaxPerAccount: -1, MaxPerAddress: -1})
	r := transfer.Range{Target: transfer.Target{SHA256: testutil.SHA256Hex(data)}}
	const running = 3 * transfer.DefaultIdleBuffers
	// Every download holds its buffer until all of them have one: they run
	// at once.
	var started sync.WaitGroup
	started.Add(running)
	var wg sync.WaitGroup
	for range running {
		wg.Go(func() {
			first := true
			err := svc.Download(t.Context(), r, func(int64, []byte) error {
				if first {
					first = false
					started.Done()
					started.Wait()
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := transfer.IdleBuffers(svc); got != transfer.DefaultIdleBuffers {
		t.Errorf("after %d downloads at once, %d idle piece buffers kept, want %d", running, got, transfer.DefaultIdleBuffers)
	}
}
