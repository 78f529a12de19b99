package downloader_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// refusalCounter counts the Download calls a peer refused as busy
// (ResourceExhausted: here its per-account cap).
type refusalCounter struct {
	streamInterceptor
	n atomic.Int64
}

func (c *refusalCounter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		if connect.CodeOf(err) == connect.CodeResourceExhausted {
			c.n.Add(1)
		}
		return err
	}
}

// holdSlot starts a Download call of tgt from p by a's account and
// returns once it is running; the peer keeps it running (never read, it
// waits on HTTP/2 flow control once the window is full) until release or
// the end of the test.
func holdSlot(t *testing.T, a *auth, p *testPeer, tgt downloader.Target) (release func()) {
	t.Helper()
	ctx, release := context.WithCancel(t.Context())
	client := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p.URL, rpcclient.Options(a.token(t))...)
	stream, err := client.Download(ctx, connect.NewRequest(&peerv1.DownloadRequest{
		File: &peerv1.DownloadRequest_Sha256{Sha256: tgt.SHA256}, Length: tgt.Size,
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release(); stream.Close() })
	if !stream.Receive() {
		t.Fatalf("holder: %v", stream.Err())
	}
	return release
}

// TestDownloadBusyStreamYields: a source that lets an account one transfer
// at a time refuses the second stream of a download; that stream ends
// quietly and the first one fetches everything. The source is asked once
// in vain, not again and again until the download ends (each refusal
// counted as a failure of the source, which could drop it).
func TestDownloadBusyStreamYields(t *testing.T) {
	t.Parallel()
	const size = 6 * mib
	var refused refusalCounter
	// 4 MiB/s: the download lasts over a second, long enough for a
	// refused stream retried every 20 ms to be refused dozens of times.
	a, peers, tgt, dest := served(t, "one.bin", size, peerOptions{maxRate: 4 * mib, maxPerAccount: 1, interceptor: &refused})
	res, err := downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{
		Dest: dest, Token: a.token(t), RetryDelay: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 || res.FetchedBytes != size {
		t.Fatalf("sha256 %s, fetched %d; want %s, %d", got, res.FetchedBytes, tgt.SHA256, int64(size))
	}
	// One stream refused once at most (the other may have been first
	// both times it asked).
	if n := refused.n.Load(); n > 1 {
		t.Errorf("the source refused %d calls: the refused stream kept asking", n)
	}
}

// TestDownloadWaitsForBusySource: while another download of the same
// account holds the source's only slot, every call of this download is
// refused; it keeps asking, with backoff, well past MaxRetries refusals,
// and completes once the slot is free, instead of giving up on the source
// as if it had failed.
func TestDownloadWaitsForBusySource(t *testing.T) {
	t.Parallel()
	const size = 8 * mib
	var refused refusalCounter
	// The holder below never reads: the peer sends it what HTTP/2 flow
	// control allows (4 MiB), then its transfer waits, running.
	a, peers, tgt, dest := served(t, "held.bin", size, peerOptions{maxRate: 4 * mib, maxPerAccount: 1, interceptor: &refused})
	p := peers[0]

	release := holdSlot(t, a, p, tgt)

	done := make(chan error, 1)
	var res *downloader.Result
	go func() {
		var err error
		res, err = downloader.Download(t.Context(), tgt, sources(p), downloader.Options{
			Dest: dest, Token: a.token(t), RetryDelay: 10 * time.Millisecond,
		})
		done <- err
	}()
	// Refused more often than MaxRetries failures would allow.
	want := int64(2*downloader.DefaultMaxRetries + 1)
	testutil.Eventually(t, 0, "refusals pile up", func() error {
		select {
		case err := <-done:
			t.Fatalf("Download ended while the source was busy: %v", err)
		default:
		}
		if n := refused.n.Load(); n < want {
			return fmt.Errorf("%d refusals, want %d", n, want)
		}
		return nil
	})
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Download: %v", err)
		}
	case <-time.After(downloader.DefaultBusyWait):
		t.Fatal("Download did not end once the slot was free")
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 || res.FetchedBytes != size {
		t.Fatalf("sha256 %s, fetched %d; want %s, %d", got, res.FetchedBytes, tgt.SHA256, int64(size))
	}
}

// TestDownloadGivesUpOnBusySource: a source busy for longer than BusyWait
// is dropped with its refusal as the reason.
func TestDownloadGivesUpOnBusySource(t *testing.T) {
	t.Parallel()
	const size = 2 * mib
	a, peers, tgt, dest := served(t, "busy.bin", size, peerOptions{maxRate: 64 * 1024, maxPerAccount: 1})
	p := peers[0]
	holdSlot(t, a, p, tgt)
	start := time.Now()
	_, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{
		Dest: dest, Token: a.token(t), RetryDelay: 10 * time.Millisecond, BusyWait: 500 * time.Millisecond,
	})
	if !errors.Is(err, downloader.ErrNoSources) || !strings.Contains(err.Error(), connect.CodeResourceExhausted.String()) {
		t.Fatalf("Download: %v; want ErrNoSources for a busy source", err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("gave up after %v, before BusyWait", took)
	}
}
