package downloader

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestPieceCount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ size, piece, want int64 }{
		{0, 1 << 20, 0},
		{1, 1 << 20, 1},
		{1 << 20, 1 << 20, 1},
		{1<<20 + 1, 1 << 20, 2},
		{math.MaxInt64, MinPieceSize, math.MaxInt64/MinPieceSize + 1},
		{math.MaxInt64, 1, math.MaxInt64},
	} {
		if got := pieceCount(tt.size, tt.piece); got != tt.want {
			t.Errorf("pieceCount(%d, %d) = %d, want %d", tt.size, tt.piece, got, tt.want)
		}
	}
	big := Target{Size: MaxSize, PieceSize: 1 << 20}
	if err := checkPieces(big, pieceCount(big.Size, big.PieceSize)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("checkPieces(1 PiB in 1 MiB pieces) = %v, want ErrTooLarge", err)
	}
	if err := checkPieces(big, MaxPieces); err != nil {
		t.Errorf("checkPieces(MaxPieces) = %v", err)
	}
}

// TestLargePiecesBoundMemory checks that an announced piece size, which is
// untrusted, does not multiply the memory a download holds: large pieces
// mean fewer of them in flight, held and kept for reuse.
func TestLargePiecesBoundMemory(t *testing.T) {
	t.Parallel()
	tgt := Target{SHA256: strings.Repeat("a", 64), PieceRoot: strings.Repeat("b", 64), Size: 1 << 30}
	dest := filepath.Join(t.TempDir(), "x")
	for _, tt := range []struct {
		piece                   int64
		perSource, perReq, hold int
	}{
		{1 << 20, DefaultPiecesPerSource, DefaultPiecesPerRequest, holdPieces},
		{4 << 20, 2, 2, 4},
		{MaxPieceSize, 1, 1, 1},
	} {
		tg := tgt
		tg.PieceSize = tt.piece
		e, err := newEngine(tg, nil, Options{Dest: dest})
		if err != nil {
			t.Fatal(err)
		}
		if e.o.PiecesPerSource != tt.perSource || e.o.PiecesPerRequest != tt.perReq || e.hold() != tt.hold {
			t.Errorf("pieces of %d bytes: %d per source, %d per request, %d held; want %d, %d, %d",
				tt.piece, e.o.PiecesPerSource, e.o.PiecesPerRequest, e.hold(), tt.perSource, tt.perReq, tt.hold)
		}
	}
}
