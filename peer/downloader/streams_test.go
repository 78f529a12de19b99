package downloader_test

import (
	"context"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// downloadCalls records the Download calls a peer serves: how many in all
// and the most running at once.
type downloadCalls struct {
	streamInterceptor
	mu                 sync.Mutex
	running, max, seen int
}

func (c *downloadCalls) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if conn.Spec().Procedure != peerv1connect.PeerServiceDownloadProcedure {
			return next(ctx, conn)
		}
		c.mu.Lock()
		c.running++
		c.seen++
		c.max = max(c.max, c.running)
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.running--
			c.mu.Unlock()
		}()
		return next(ctx, conn)
	}
}

// TestDownloadOneStreamPerSource checks that a download with the default
// options runs one Download stream at a time per source, each asking for
// DefaultPiecesPerSource pieces: the serving peer holds a verified piece
// per running stream, so a second stream per get costs it a piece of
// memory per client (docs/BENCHMARKS.md, "One stream per get").
func TestDownloadOneStreamPerSource(t *testing.T) {
	t.Parallel()
	calls := &downloadCalls{}
	// Capped, so that a second stream, if there were one, would overlap
	// the first.
	a, peers, tgt, dest := served(t, "one.bin", 16*mib, peerOptions{maxRate: 64 * mib, interceptor: calls})
	if _, err := downloader.Download(t.Context(), tgt, sources(peers...), downloader.Options{Dest: dest, Token: a.token(t)}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if calls.max != 1 {
		t.Errorf("at most %d Download calls ran at once at the source, want 1", calls.max)
	}
	if want := 16 / downloader.DefaultPiecesPerSource; calls.seen != want {
		t.Errorf("%d Download calls for 16 pieces, want %d of %d pieces", calls.seen, want, downloader.DefaultPiecesPerSource)
	}
}
