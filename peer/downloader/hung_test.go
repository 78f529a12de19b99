package downloader_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// A download whose only source hangs fails within the default stall
// timeout (not after five Stat timeouts and their backoff: 78 s) and
// names the source.
func TestDownloadHungSourceFailsFast(t *testing.T) {
	t.Parallel()
	_, _, tgt, dest := served(t, "h.bin", 2*mib, peerOptions{})
	hung := downloader.Source{Peer: "frozen", Address: testutil.HungListener(t)}
	start := time.Now()
	_, err := downloader.Download(t.Context(), tgt, []downloader.Source{hung}, downloader.Options{Dest: dest})
	elapsed := time.Since(start)
	t.Logf("hung source failed after %v", elapsed)
	if !errors.Is(err, downloader.ErrNoSources) || !errors.Is(err, downloader.ErrStalled) && !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("err %v, want ErrNoSources naming a stalled source", err)
	}
	if !strings.Contains(err.Error(), "frozen") {
		t.Errorf("error %q does not name the hung source", err)
	}
	if elapsed >= 20*time.Second {
		t.Errorf("took %v, want under 20 s", elapsed)
	}
	if elapsed < downloader.DefaultStallTimeout {
		t.Errorf("took %v, before the stall timeout %v", elapsed, downloader.DefaultStallTimeout)
	}
}

// The default stall timeout is short enough that a source that hangs on
// its pieces (MaxStalls stalls) is dropped within 20 s.
func TestDefaultStallTimeoutBound(t *testing.T) {
	if d := downloader.DefaultStallTimeout; d > 10*time.Second || downloader.MaxStalls*d+downloader.DefaultRetryDelay >= 20*time.Second {
		t.Errorf("DefaultStallTimeout %v with MaxStalls %d: a hung source is kept past 20 s", d, downloader.MaxStalls)
	}
}

// A source that answers Stat but then sends no byte of any piece is
// dropped after MaxStalls stalls in a row, not retried MaxRetries times,
// and the download names it.
func TestDownloadDropsSourceHungOnPieces(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "p.bin", 4*mib, peerOptions{interceptor: staller(-1)})
	const stall = time.Second
	start := time.Now()
	res, err := downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{
		Dest:         dest,
		Token:        a.token(t),
		StallTimeout: stall,
		MaxRetries:   20,
		RetryDelay:   time.Millisecond,
	})
	elapsed := time.Since(start)
	t.Logf("source hung on pieces dropped after %v", elapsed)
	if !errors.Is(err, downloader.ErrNoSources) {
		t.Fatalf("err %v, want ErrNoSources", err)
	}
	if s := res.Sources[0]; !s.Dropped || !errors.Is(s.Err, downloader.ErrStalled) {
		t.Errorf("source: dropped %v, err %v; want dropped as stalled", s.Dropped, s.Err)
	}
	if elapsed > 10*stall {
		t.Errorf("took %v: a hung source was retried past %d stalls", elapsed, downloader.MaxStalls)
	}
}
