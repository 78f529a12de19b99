package downloader_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// fastRetry makes a dead source be dropped within a fraction of a second.
func fastRetry(o downloader.Options) downloader.Options {
	o.RetryDelay = 5 * time.Millisecond
	o.MaxRetries = 2
	return o
}

func TestDownloadThreeSources(t *testing.T) {
	t.Parallel()
	// Capped, so that no source finishes before the others start.
	capped := peerOptions{maxRate: 40 * mib}
	a, peers, tgt, dest := served(t, "big.bin", 64*mib, capped, capped, capped)
	var sawSources int
	res, err := downloader.Download(t.Context(), tgt, sources(peers...), downloader.Options{
		Dest:             dest,
		Token:            a.token(t),
		ProgressInterval: 10 * time.Millisecond,
		Progress: func(p downloader.Progress) {
			sawSources = max(sawSources, p.Sources)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	var pieces int
	for _, s := range res.Sources {
		if s.Pieces == 0 || s.Bytes == 0 {
			t.Errorf("source %s served %d pieces (%d bytes), want some", s.Peer, s.Pieces, s.Bytes)
		}
		pieces += s.Pieces
	}
	if pieces != 64 || res.FetchedBytes != 64*mib || res.FetchedPieces != 64 {
		t.Errorf("sources delivered %d pieces, result %d pieces/%d bytes; want 64/%d", pieces, res.FetchedPieces, res.FetchedBytes, 64*mib)
	}
	if sawSources != 3 {
		t.Errorf("progress reported at most %d sources in use, want 3", sawSources)
	}
	if exists(dest+sharepath.PartialSuffix) || exists(dest+sharepath.StateSuffix) {
		t.Error("partial or state file left after a complete download")
	}
}

func TestDownloadSourceStopsMidway(t *testing.T) {
	t.Parallel()
	capped := peerOptions{maxRate: 24 * mib}
	a, peers, tgt, dest := served(t, "f.bin", 64*mib, capped, capped, capped)
	var once sync.Once
	var stoppedAt int64
	res, err := downloader.Download(t.Context(), tgt, sources(peers...), fastRetry(downloader.Options{
		Dest:             dest,
		Token:            a.token(t),
		ProgressInterval: 5 * time.Millisecond,
		Progress: func(p downloader.Progress) {
			if p.Done >= p.Total/4 {
				once.Do(func() {
					stoppedAt = p.Done
					// Stop in the background: Progress must return
					// quickly, and the peer's streams are running.
					go peers[1].Stop()
				})
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	if stoppedAt == 0 || stoppedAt == 64*mib {
		t.Fatalf("peer stopped at %d bytes, want mid-download", stoppedAt)
	}
	b := res.Sources[1]
	if !b.Dropped || b.Err == nil {
		t.Errorf("stopped source: dropped %v, err %v; want dropped with a reason", b.Dropped, b.Err)
	}
	if got := res.Sources[0].Pieces + res.Sources[2].Pieces; got != 64-b.Pieces {
		t.Errorf("remaining sources served %d pieces, want the rest of 64 after %d", got, b.Pieces)
	}
	// The stopped source cost only the pieces it had in flight: what it
	// sent beyond the pieces it delivered (and which were kept).
	if b.Pieces == 0 {
		t.Error("the stopped source delivered no piece before it stopped")
	}
	if lost := peers[1].sent.Load() - b.Bytes; lost > downloader.DefaultPiecesPerSource*mib {
		t.Errorf("the stopped source sent %d bytes that were lost, want at most its %d pieces in flight", lost, downloader.DefaultPiecesPerSource)
	}
}

func TestDownloadDropsCorruptSource(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "c.bin", 16*mib, peerOptions{maxRate: 32 * mib}, peerOptions{interceptor: corrupter()})
	good, bad := peers[0], peers[1]
	res, err := downloader.Download(t.Context(), tgt, sources(bad, good), downloader.Options{
		Dest:  dest,
		Token: a.token(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	b := res.Sources[0]
	if !b.Dropped || !errors.Is(b.Err, downloader.ErrBadPiece) || b.Pieces != 0 {
		t.Errorf("corrupt source: dropped %v, err %v, %d pieces; want dropped for a bad piece, none kept", b.Dropped, b.Err, b.Pieces)
	}
	if g := res.Sources[1]; g.Pieces != 16 {
		t.Errorf("good source served %d pieces, want all 16", g.Pieces)
	}
}

func TestDownloadReassignsStalledPieces(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "s.bin", 8*mib)
	// The peer's first download stalls: only the stall timeout can free
	// its pieces, since another stream of the same source never takes
	// them over.
	p := startPeer(t, a, src, peerOptions{maxRate: 32 * mib, interceptor: staller(1)})
	dest := filepath.Join(t.TempDir(), "s.bin")
	start := time.Now()
	res, err := downloader.Download(t.Context(), target(t, a, p, sum), sources(p), downloader.Options{
		Dest:         dest,
		Token:        a.token(t),
		StallTimeout: 2 * time.Second,
		RetryDelay:   time.Millisecond,
		// A loaded test machine may stall a healthy stream too.
		MaxRetries: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != sum {
		t.Fatalf("sha256 %s, want %s", got, sum)
	}
	if s := res.Sources[0]; !errors.Is(s.Err, downloader.ErrStalled) || s.Dropped || s.Pieces != 8 {
		t.Errorf("source: err %v, dropped %v, %d pieces; want one stall, then all 8 pieces", s.Err, s.Dropped, s.Pieces)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("done in %v, before the stall timeout", d)
	}
}

func TestDownloadEndgameOvertakesStalledSource(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "e.bin", 8*mib, peerOptions{maxRate: 32 * mib}, peerOptions{interceptor: staller(-1)})
	good, stuck := peers[0], peers[1]
	start := time.Now()
	res, err := downloader.Download(t.Context(), tgt, sources(stuck, good), downloader.Options{
		Dest:         dest,
		Token:        a.token(t),
		StallTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	if res.Sources[0].Pieces != 0 || res.Sources[1].Pieces != 8 {
		t.Errorf("pieces by source %d/%d, want 0/8", res.Sources[0].Pieces, res.Sources[1].Pieces)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v: the stalled source's pieces waited for the stall timeout", d)
	}
}

func TestDownloadResumes(t *testing.T) {
	t.Parallel()
	// Capped, so that cancelling at half stops well before the end.
	a, peers, tgt, dest := served(t, "r.bin", 64*mib, peerOptions{maxRate: 32 * mib})
	p := peers[0]
	partial, state := dest+sharepath.PartialSuffix, dest+sharepath.StateSuffix

	// Run 1: cancelled at about half.
	first, err := interrupted(t, a, tgt, p, dest, func(pr downloader.Progress) bool { return pr.Done >= pr.Total/2 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled download: %v, want context.Canceled", err)
	}
	if first.FetchedBytes < 32*mib || first.FetchedBytes >= 64*mib {
		t.Fatalf("first run fetched %d bytes, want about half of %d", first.FetchedBytes, 64*mib)
	}
	if !exists(partial) || !exists(state) || exists(dest) {
		t.Fatalf("after the interruption: partial %v, state %v, dest %v; want partial and state only", exists(partial), exists(state), exists(dest))
	}
	// The state file has its reserved size: saving progress never grew it.
	if fi, err := os.Stat(state); err != nil || fi.Size() != 2*4096 {
		t.Fatalf("state file: %v, %v; want 8 KiB (two records)", fi, err)
	}

	// In between, with no source: nothing to do, nothing lost.
	if _, err := downloader.Download(t.Context(), tgt, nil, downloader.Options{Dest: dest, Token: a.token(t)}); !errors.Is(err, downloader.ErrNoSources) {
		t.Fatalf("download without sources: %v, want ErrNoSources", err)
	}
	if !exists(partial) || !exists(state) {
		t.Fatal("ErrNoSources removed the partial download")
	}

	// Run 2: fetches only what is missing.
	p.resetSent(t)
	second, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	if second.ResumedBytes != first.FetchedBytes {
		t.Errorf("resumed %d bytes, the first run had %d on disk", second.ResumedBytes, first.FetchedBytes)
	}
	if second.FetchedBytes+second.ResumedBytes != 64*mib {
		t.Errorf("fetched %d + resumed %d bytes, want %d", second.FetchedBytes, second.ResumedBytes, 64*mib)
	}
	if sent := p.sent.Load(); sent != second.FetchedBytes {
		t.Errorf("peer sent %d bytes in the second run, want only the %d missing", sent, second.FetchedBytes)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	if exists(partial) || exists(state) {
		t.Error("partial or state file left after the resumed download completed")
	}
}

func TestDownloadResumeRefetchesDamagedPiece(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "d.bin", 8*mib, peerOptions{maxRate: 16 * mib})
	p := peers[0]
	first, _ := interrupted(t, a, tgt, p, dest, func(pr downloader.Progress) bool { return pr.PiecesDone >= 3 })
	if first == nil || first.FetchedPieces < 3 {
		t.Fatalf("first run: %+v, want some pieces", first)
	}
	// Damage piece 0 on disk behind the downloader's back.
	f, err := os.OpenFile(dest+sharepath.PartialSuffix, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("damage"), 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	second, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	if second.ResumedPieces != first.FetchedPieces-1 {
		t.Errorf("resumed %d pieces, want %d (all but the damaged one)", second.ResumedPieces, first.FetchedPieces-1)
	}
}

func TestDownloadRefusals(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "x.bin", 3*mib+17)
	p := startPeer(t, a, src, peerOptions{})
	tgt := target(t, a, p, sum)
	dead := startPeer(t, a, t.TempDir(), peerOptions{})
	dead.Stop()

	wrongRoot := tgt
	wrongRoot.PieceRoot = sum // a valid hash, but not this piece list's root

	tests := []struct {
		name     string
		target   downloader.Target
		sources  []downloader.Source
		existing string // content of a file already at the destination
		force    bool
		wantErr  error
		wantCode connect.Code // of the reason a source was dropped
	}{
		{name: "existing destination", target: tgt, sources: sources(p), existing: "keep me", wantErr: downloader.ErrExists},
		{name: "existing destination forced", target: tgt, sources: sources(p), existing: "replace me", force: true},
		{name: "no sources", target: tgt, wantErr: downloader.ErrNoSources},
		{name: "source unreachable", target: tgt, sources: sources(dead), wantErr: downloader.ErrNoSources, wantCode: connect.CodeUnavailable},
		{name: "source lacks the file", target: func() downloader.Target { x := tgt; x.SHA256 = x.PieceRoot; return x }(), sources: sources(p), wantErr: downloader.ErrNoSources, wantCode: connect.CodeNotFound},
		{name: "piece root differs", target: wrongRoot, sources: sources(p), wantErr: downloader.ErrNoSources},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "x.bin")
			if tt.existing != "" {
				if err := os.WriteFile(dest, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := downloader.Download(t.Context(), tt.target, tt.sources, fastRetry(downloader.Options{Dest: dest, Token: a.token(t), Force: tt.force}))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Download: %v, want %v", err, tt.wantErr)
			}
			if tt.wantCode != 0 {
				if len(res.Sources) != 1 || connect.CodeOf(res.Sources[0].Err) != tt.wantCode {
					t.Errorf("source result %+v, want dropped with %v", res.Sources, tt.wantCode)
				}
			}
			switch {
			case tt.existing != "" && !tt.force:
				if b, _ := os.ReadFile(dest); string(b) != tt.existing {
					t.Errorf("destination changed to %q", b)
				}
			case tt.wantErr == nil:
				if got := testutil.FileSHA256(t, dest); got != sum {
					t.Errorf("sha256 %s, want %s", got, sum)
				}
			}
			if tt.wantErr != nil && (exists(dest+sharepath.PartialSuffix) || exists(dest+sharepath.StateSuffix)) {
				t.Error("a download that got no piece left a partial or state file")
			}
		})
	}
}

func TestDownloadEmptyFile(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "empty", 0)
	p := startPeer(t, a, src, peerOptions{})
	dest := filepath.Join(t.TempDir(), "empty")
	if _, err := downloader.Download(t.Context(), target(t, a, p, sum), sources(p), downloader.Options{Dest: dest, Token: a.token(t)}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Size() != 0 {
		t.Fatalf("empty download: %v, %v", fi, err)
	}
}
