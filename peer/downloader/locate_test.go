package downloader_test

import (
	"errors"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestAttackOneSourceLiarCaughtAtTheEnd downloads from a single source
// that sends one bad piece among good ones. With one source the pieces are
// written unchecked and only the whole-content SHA-256 vouches for them: the
// download must fail (never report success), locate the bad piece, ban the
// source for it (ErrBadPiece, so Get would not ask it again) and keep only
// the good pieces; the same download from an honest source then fetches the
// bad piece alone and ends with the right content.
func TestAttackOneSourceLiarCaughtAtTheEnd(t *testing.T) {
	t.Parallel()
	liar := &corruptOnce{k: 2}
	a, peers, tgt, dest := served(t, "l.bin", 8*mib, peerOptions{interceptor: liar}, peerOptions{})
	res, err := downloader.Download(t.Context(), tgt, sources(peers[0]), fastRetry(downloader.Options{Dest: dest, Token: a.token(t)}))
	if !errors.Is(err, downloader.ErrNoSources) {
		t.Fatalf("download from the liar alone = %v, want ErrNoSources", err)
	}
	if exists(dest) {
		t.Fatal("the destination exists after a download from a liar")
	}
	if !liar.sent.Load() {
		t.Fatal("the liar sent no bad piece: the test proves nothing")
	}
	s := res.Sources[0]
	if !s.Dropped || !errors.Is(s.Err, downloader.ErrBadPiece) {
		t.Fatalf("the liar: dropped %v, err %v; want dropped for a bad piece", s.Dropped, s.Err)
	}
	if res.FetchedPieces != 7 || s.Pieces != 7 {
		t.Errorf("kept %d pieces (%d credited to the liar), want the 7 good ones", res.FetchedPieces, s.Pieces)
	}

	res, err = downloader.Download(t.Context(), tgt, sources(peers[1]), downloader.Options{Dest: dest, Token: a.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
	if res.ResumedPieces != 7 || res.FetchedPieces != 1 {
		t.Errorf("resumed %d pieces and fetched %d, want 7 and the bad one", res.ResumedPieces, res.FetchedPieces)
	}
}

// TestAttackOneSourceLiesThroughout downloads from a single source that
// corrupts every chunk: nothing it sends is kept, it is banned, and the
// download fails without a destination file.
func TestAttackOneSourceLiesThroughout(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "t.bin", 4*mib+123, peerOptions{interceptor: corrupter()})
	res, err := downloader.Download(t.Context(), tgt, sources(peers[0]), fastRetry(downloader.Options{Dest: dest, Token: a.token(t)}))
	if !errors.Is(err, downloader.ErrNoSources) {
		t.Fatalf("download = %v, want ErrNoSources", err)
	}
	if exists(dest) {
		t.Fatal("the destination exists after a download from a liar")
	}
	if s := res.Sources[0]; !s.Dropped || !errors.Is(s.Err, downloader.ErrBadPiece) || s.Pieces != 0 || res.FetchedPieces != 0 {
		t.Errorf("liar: dropped %v, err %v, %d pieces (%d kept in all); want banned for a bad piece, nothing kept", s.Dropped, s.Err, s.Pieces, res.FetchedPieces)
	}
}
