package downloader_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// callCounter counts every call a peer receives.
type callCounter struct {
	streamInterceptor
	n atomic.Int64
}

func (c *callCounter) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		c.n.Add(1)
		return next(ctx, req)
	}
}

func (c *callCounter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		c.n.Add(1)
		return next(ctx, conn)
	}
}

// TestDownloadHugeAnnouncements announces sizes no download may take: 2^63-1
// bytes (which overflowed the piece count and panicked in makeslice) and 64
// TiB (which allocated gigabytes of bookkeeping before anything else). Each
// must fail with a clear error before any peer is contacted, allocating
// little, and leave nothing behind.
//
// It does not run in parallel: it measures the bytes allocated meanwhile.
func TestDownloadHugeAnnouncements(t *testing.T) {
	a := newAuth(t)
	src, sum := content(t, "f.bin", 100)
	calls := &callCounter{}
	p := startPeer(t, a, src, peerOptions{interceptor: calls})
	tgt := target(t, a, p, sum)
	calls.n.Store(0)

	tests := []struct {
		name      string
		size      int64
		pieceSize int64
		want      error
		wantText  string
	}{
		{"2^63-1 bytes", 1<<63 - 1, 0, downloader.ErrTooLarge, "1 PiB"},
		{"2^63-1 bytes in the smallest pieces", 1<<63 - 1, downloader.MinPieceSize, downloader.ErrTooLarge, "1 PiB"},
		{"64 TiB", 64 << 40, 0, downloader.ErrNoSpace, "free"},
		{"64 TiB in the smallest pieces", 64 << 40, downloader.MinPieceSize, downloader.ErrNoSpace, "free"},
		{"negative", -1, 0, downloader.ErrTooLarge, ""},
		{"piece size 1", 100, 1, downloader.ErrBadTarget, "piece size"},
		{"piece size 2^62", 100, 1 << 62, downloader.ErrBadTarget, "piece size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "f.bin")
			huge := tgt
			huge.Size, huge.PieceSize = tt.size, tt.pieceSize
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := downloader.Download(t.Context(), huge, sources(p), downloader.Options{Dest: dest, Token: a.token(t)})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Download = %v, want %v mentioning %q", err, tt.want, tt.wantText)
			}
			t.Logf("error: %v", err)
			if res != nil {
				t.Errorf("a result %+v for a download that never started", res)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes to refuse it, want at most 8 MiB", alloc)
			}
			if n := calls.n.Load(); n != 0 {
				t.Errorf("the peer got %d calls, want none", n)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("the output folder holds %v, want nothing", ents)
			}
		})
	}
}

// TestDownloadRefusesPlantedLinks plants symbolic links (and a hard link)
// at the names a download writes, pointing at a file outside the output
// folder and at one inside it. The download must refuse them, never write
// through them, and leave both files as they were.
func TestDownloadRefusesPlantedLinks(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "f.bin", 3*mib+5)
	p := startPeer(t, a, src, peerOptions{})
	tgt := target(t, a, p, sum)

	const secret = "do not overwrite me"
	plants := []struct {
		name   string
		at     string // which name gets the link
		inside bool   // the target is in the output folder
		hard   bool
	}{
		{"partial to outside", sharepath.PartialSuffix, false, false},
		{"partial to inside", sharepath.PartialSuffix, true, false},
		{"state to outside", sharepath.StateSuffix, false, false},
		{"state to inside", sharepath.StateSuffix, true, false},
		{"partial hard link", sharepath.PartialSuffix, true, true},
	}
	for _, pl := range plants {
		t.Run(pl.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim")
			if pl.inside {
				victim = filepath.Join(dir, "victim")
			}
			if err := os.WriteFile(victim, []byte(secret), 0o644); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(dir, "f.bin")
			link := dest + pl.at
			var err error
			if pl.hard {
				err = os.Link(victim, link)
			} else {
				err = os.Symlink(victim, link)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t)})
			if !errors.Is(err, downloader.ErrNotRegular) {
				t.Errorf("Download = %v, want ErrNotRegular", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != secret {
				t.Fatalf("the link's target was changed to %d bytes %.40q", len(b), b)
			}
			if exists(dest) {
				t.Error("the destination was written")
			}
		})
	}

	// With Force, a link at the destination itself is replaced by the
	// download, not written through.
	t.Run("destination link with force", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(dir, "f.bin")
		if err := os.Symlink(victim, dest); err != nil {
			t.Fatal(err)
		}
		if _, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t), Force: true}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(victim); string(b) != secret {
			t.Fatal("the destination link's target was overwritten")
		}
		if fi, err := os.Lstat(dest); err != nil || !fi.Mode().IsRegular() || testutil.FileSHA256(t, dest) != sum {
			t.Fatalf("destination %v, %v: want the downloaded file in place of the link", fi, err)
		}
	})
}

// TestDownloadRefusesUnportableNames checks that a download does not write
// a name another system could not store (or would show as another): the
// name a directory or peer announced is refused before anything is written.
func TestDownloadRefusesUnportableNames(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "f.bin", 100)
	p := startPeer(t, a, src, peerOptions{})
	tgt := target(t, a, p, sum)
	for _, name := range []string{`..\..\x`, `a\b`, "C:x", "evil\u202egnp.exe", "a\u0085b", "cafe\u0301", "nul.txt", strings.Repeat("x", 256)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: filepath.Join(dir, name), Token: a.token(t)})
			if !errors.Is(err, sharepath.ErrInvalid) {
				t.Fatalf("Download to %q = %v, want sharepath.ErrInvalid", name, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("the output folder holds %v", ents)
			}
		})
	}
}

// TestDownloadLongName downloads a file whose name is as long as a name may
// be: its partial and state files get shortened names of their own.
func TestDownloadLongName(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("é", 120) + ".bin" // 244 bytes
	a, peers, tgt, _ := served(t, "f.bin", 2*mib+1, peerOptions{})
	dest := filepath.Join(t.TempDir(), name)
	// Interrupted once, so that the partial and state files exist.
	res, err := interrupted(t, a, tgt, peers[0], dest, func(p downloader.Progress) bool { return p.PiecesDone > 0 })
	if err == nil {
		t.Skip("the download finished before it could be interrupted")
	}
	if res == nil || res.Path == "" || len(filepath.Base(res.Path)) > sharepath.MaxSegment {
		t.Fatalf("interrupted download kept %+v", res)
	}
	if _, err := downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{Dest: dest, Token: a.token(t)}); err != nil {
		t.Fatal(err)
	}
	if testutil.FileSHA256(t, dest) != tgt.SHA256 {
		t.Fatal("wrong content")
	}
	if ents, _ := os.ReadDir(filepath.Dir(dest)); len(ents) != 1 {
		t.Errorf("the output folder holds %v, want the file alone", ents)
	}
}

// corruptOnce is a PeerService wrapper that flips a byte of the first chunk
// of its k-th Download call and serves everything else faithfully; calls
// counts Download calls, after counts those that started after the bad
// chunk was sent.
type corruptOnce struct {
	streamInterceptor
	k            int64
	calls, after atomic.Int64
	sent         atomic.Bool
}

func (c *corruptOnce) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if conn.Spec().Procedure != peerv1connect.PeerServiceDownloadProcedure {
			return next(ctx, conn)
		}
		if c.sent.Load() {
			c.after.Add(1)
		}
		mine := c.calls.Add(1) == c.k
		return next(ctx, &sendHook{StreamingHandlerConn: conn, fn: func(msg any) error {
			if m, ok := msg.(*peerv1.DownloadResponse); ok && mine && len(m.GetData()) > 0 {
				mine = false
				bad := append([]byte(nil), m.GetData()...)
				bad[0] ^= 1
				msg = &peerv1.DownloadResponse{Offset: m.GetOffset(), Data: bad}
				defer c.sent.Store(true)
			}
			return conn.Send(msg)
		}})
	}
}

// TestDownloadBansSourceAfterOneBadPiece checks that a source whose one
// piece fails its hash is banned for the rest of the download, though it
// serves every later piece faithfully: no new request goes to it beyond the
// ones its streams had already started, and nothing more it sends is kept.
func TestDownloadBansSourceAfterOneBadPiece(t *testing.T) {
	t.Parallel()
	liar := &corruptOnce{k: 3}
	a, peers, tgt, dest := served(t, "b.bin", 32*mib, peerOptions{interceptor: liar}, peerOptions{maxRate: 32 * mib})
	res, err := downloader.Download(t.Context(), tgt, sources(peers...), downloader.Options{Dest: dest, Token: a.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	if testutil.FileSHA256(t, dest) != tgt.SHA256 {
		t.Fatal("wrong content")
	}
	bad := res.Sources[0]
	if !bad.Dropped || !errors.Is(bad.Err, downloader.ErrBadPiece) {
		t.Fatalf("source that sent a bad piece: dropped %v, err %v", bad.Dropped, bad.Err)
	}
	// Each of its streams (one with the defaults) may have started one
	// more request before the bad piece was verified.
	streams := int64(downloader.DefaultPiecesPerSource / downloader.DefaultPiecesPerRequest)
	if n := liar.after.Load(); n > streams {
		t.Errorf("%d requests went to the source after its bad piece, want at most %d", n, streams)
	}
	if bad.Pieces+res.Sources[1].Pieces != 32 {
		t.Errorf("pieces kept: %d from the banned source, %d from the good one; want 32 in all", bad.Pieces, res.Sources[1].Pieces)
	}
}

// TestGetFallsBackToOtherDescriptors gives Get a candidate whose preferred
// descriptor lies (a made-up piece root, announced for the honest peer's
// own address too, and a corrupting source) and whose other descriptor is
// the real one. Get must succeed from the honest peer: the made-up root
// drops the honest peer for that descriptor only, while the corrupting
// source is banned for both.
func TestGetFallsBackToOtherDescriptors(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "g.bin", 8*mib, peerOptions{}, peerOptions{interceptor: corrupter()})
	good, bad := peers[0], peers[1]
	lie := tgt
	lie.PieceRoot = strings.Repeat("0", 64)
	srcs := sources(good, bad)
	c := downloader.Candidate{
		Target: lie, Name: "g.bin", Sources: srcs, Accounts: 3,
		Others: []downloader.Candidate{
			// The real descriptor, but only the corrupting source: it is
			// banned here.
			{Target: tgt, Name: "g.bin", Sources: srcs[1:], Accounts: 2},
			{Target: tgt, Name: "g.bin", Sources: srcs, Accounts: 1},
		},
	}
	sentBefore := bad.sent.Load()
	res, err := downloader.Get(t.Context(), c, fastRetry(downloader.Options{Dest: dest, Token: a.token(t)}))
	if err != nil {
		t.Fatal(err)
	}
	if testutil.FileSHA256(t, dest) != tgt.SHA256 {
		t.Fatal("wrong content")
	}
	if len(res.Sources) != 1 || res.Sources[0].Address != good.URL || res.Sources[0].Pieces != 8 {
		t.Errorf("last attempt's sources %+v, want the honest peer alone with all 8 pieces", res.Sources)
	}
	// The corrupting source served the second attempt only, where it was
	// the one source: its pieces were written unchecked and it was caught
	// by the whole-content hash, so it sent the content once. It was not
	// asked again in the third.
	if sent := bad.sent.Load() - sentBefore; sent > tgt.Size {
		t.Errorf("the banned source sent %d bytes, more than the content once", sent)
	}

	// Every descriptor failing: the error names them all.
	dest2 := filepath.Join(t.TempDir(), "g.bin")
	c.Others = c.Others[:1]
	_, err = downloader.Get(t.Context(), c, fastRetry(downloader.Options{Dest: dest2, Token: a.token(t)}))
	if !errors.Is(err, downloader.ErrNoSources) || !strings.Contains(err.Error(), "1 other description") {
		t.Fatalf("Get = %v, want ErrNoSources naming the other description", err)
	}
}

// TestUploadNames checks that Upload sends names in NFC and refuses a name
// that is not portable before it sends anything.
func TestUploadNames(t *testing.T) {
	t.Parallel()
	a := newAuth(t)
	src, sum := content(t, "up.bin", 1000)
	calls := &callCounter{}
	p := startPeer(t, a, t.TempDir(), peerOptions{acceptUploads: true, interceptor: calls})
	res, err := downloader.Upload(t.Context(), p.URL, filepath.Join(src, "up.bin"), downloader.UploadOptions{Name: "cafe\u0301.bin", Token: a.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetName() != "café.bin" || testutil.FileSHA256(t, filepath.Join(p.Dir, "café.bin")) != sum {
		t.Fatalf("Upload stored %q, want the NFC name café.bin", res.GetName())
	}
	before := calls.n.Load()
	for _, name := range []string{`..\..\x`, "C:x", "a\u202eb", "a\u0085b"} {
		if _, err := downloader.Upload(t.Context(), p.URL, filepath.Join(src, "up.bin"), downloader.UploadOptions{Name: name, Token: a.token(t)}); !errors.Is(err, sharepath.ErrInvalid) {
			t.Errorf("Upload as %q = %v, want sharepath.ErrInvalid", name, err)
		}
	}
	if n := calls.n.Load() - before; n != 0 {
		t.Errorf("the peer got %d calls for refused names", n)
	}
}
