package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestPerCallerCaps checks that one account, or one address, gets only its
// share of the transfers, running and waiting together, so it can neither
// take every slot nor fill the queue; that others still get in; and that
// what a caller gives back (a finished transfer, a wait given up) counts
// no more.
func TestPerCallerCaps(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(3*transfer.MinChunkSize, 7)
	s := newShare(t, map[string][]byte{"f": data})
	r := transfer.Range{Target: transfer.Target{Name: "f"}}
	svc := s.service(t, transfer.Options{MaxTransfers: 2, MaxQueue: 10, MaxPerAccount: 2, MaxPerAddress: 3, ChunkSize: transfer.MinChunkSize, AcceptUploads: true})
	as := func(account, address string) context.Context {
		return transfer.WithCaller(t.Context(), transfer.Caller{Account: account, Address: address})
	}

	// load waits until the service runs running transfers and queues
	// waiting. (A queued transfer that takes a slot counts as both for a
	// moment, so only a settled state is compared.)
	load := func(running, waiting int) {
		t.Helper()
		testutil.Eventually(t, 0, fmt.Sprintf("%d running, %d waiting", running, waiting), func() error {
			if r, w := svc.Load(); r != running || w != waiting {
				return fmt.Errorf("%d running, %d waiting", r, w)
			}
			return nil
		})
	}
	// start begins a download that blocks on its first chunk until
	// release is closed; it returns once the service runs running and
	// queues waiting transfers with it.
	type held struct {
		done    chan error
		release chan struct{}
		cancel  context.CancelFunc
	}
	start := func(ctx context.Context, running, waiting int) held {
		t.Helper()
		ctx, cancel := context.WithCancel(ctx)
		h := held{done: make(chan error, 1), release: make(chan struct{}), cancel: cancel}
		go func() {
			h.done <- svc.Download(ctx, r, func(int64, []byte) error {
				<-h.release
				return nil
			})
		}()
		load(running, waiting)
		return h
	}
	busy := func(ctx context.Context, want string) {
		t.Helper()
		_, _, err := download(ctx, svc, r)
		if !errors.Is(err, transfer.ErrBusy) || !strings.Contains(err.Error(), want) {
			t.Errorf("download: %v, want ErrBusy naming %q", err, want)
		}
	}

	a1 := start(as("alice", "10.0.0.1"), 1, 0)
	a2 := start(as("alice", "10.0.0.2"), 2, 0)
	// alice has her two; from any address, a third is refused at once,
	// although the queue has room. So is an upload.
	busy(as("alice", "10.0.0.3"), `account "alice"`)
	_, err := svc.Upload(as("alice", "10.0.0.3"), transfer.UploadHeader{Name: "u", SHA256: testutil.SHA256Hex(nil)}, chunks(nil))
	if !errors.Is(err, transfer.ErrBusy) {
		t.Errorf("alice's upload: %v, want ErrBusy", err)
	}
	// Others wait in the queue, up to their address's cap.
	b1 := start(as("bob", "10.0.0.1"), 2, 1)
	c1 := start(as("carol", "10.0.0.1"), 2, 2) // 10.0.0.1 has three now
	busy(as("dave", "10.0.0.1"), "address 10.0.0.1")
	d1 := start(as("dave", "10.0.0.9"), 2, 3)

	// A waiting caller that gives up frees its share.
	c1.cancel()
	if err := <-c1.done; !errors.Is(err, context.Canceled) {
		t.Errorf("carol's abandoned wait: %v", err)
	}
	load(2, 2)
	c2 := start(as("carol", "10.0.0.1"), 2, 3)

	// A finished transfer frees its share, and the queue moves on.
	close(a1.release)
	if err := <-a1.done; err != nil {
		t.Fatal(err)
	}
	load(2, 2)
	a3 := start(as("alice", "10.0.0.3"), 2, 3)
	for _, h := range []held{a2, b1, c2, d1, a3} {
		close(h.release)
	}
	for _, h := range []held{a2, b1, c2, d1, a3} {
		if err := <-h.done; err != nil {
			t.Errorf("download: %v", err)
		}
	}
	load(0, 0)
	// Everyone may start again: nothing is left counted.
	for _, c := range []string{"alice", "bob", "carol", "dave"} {
		for range 2 {
			if _, _, err := download(as(c, "10.0.0.1"), svc, r); err != nil {
				t.Errorf("%s: %v", c, err)
			}
		}
	}
}

// TestPerCallerCapsOff checks that negative caps mean none.
func TestPerCallerCapsOff(t *testing.T) {
	t.Parallel()
	s := newShare(t, map[string][]byte{"f": []byte("x")})
	svc := s.service(t, transfer.Options{MaxTransfers: 4, MaxPerAccount: -1, MaxPerAddress: -1})
	release := make(chan struct{})
	done := make(chan error, 4)
	ctx := transfer.WithCaller(t.Context(), transfer.Caller{Account: "alice", Address: "10.0.0.1"})
	for range 4 {
		go func() {
			done <- svc.Download(ctx, transfer.Range{Target: transfer.Target{Name: "f"}}, func(int64, []byte) error { <-release; return nil })
		}()
	}
	testutil.Eventually(t, 0, "four downloads of one caller running", func() error {
		if running, _ := svc.Load(); running != 4 {
			return fmt.Errorf("%d running", running)
		}
		return nil
	})
	close(release)
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
