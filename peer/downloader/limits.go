package downloader

import (
	"fmt"

	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/pieces"
)

// Limits on what a download trusts. A content's size and piece size come
// from the directory, which takes them from the peers: they are untrusted,
// and checked against these limits (and the free disk) before anything of
// that size is allocated or any peer is contacted.
const (
	// MaxSize is the largest content Download accepts, in bytes (1 PiB):
	// far above any real file, far below sizes whose arithmetic overflows.
	MaxSize = 1 << 50
	// MinPieceSize and MaxPieceSize bound a content's piece size, in
	// bytes: the protocol's limits (peerhub.directory.v1.FileEntry).
	MinPieceSize = 16 << 10
	MaxPieceSize = 16 << 20
	// MaxPieces is the most pieces a content may have: 512 GiB in
	// peerhub's 1 MiB pieces. It bounds the download's own bookkeeping
	// (about 10 bytes a piece), the piece list a source sends (32 bytes a
	// piece, see maxResponseBytes) and the state file.
	MaxPieces = 1 << 19
	// maxResponseBytes is the most a source's answer may weigh: a piece
	// list of MaxPieces hashes (34 bytes each, encoded) plus room for its
	// names, or a 4 MiB download chunk.
	maxResponseBytes = MaxPieces*(pieces.HashLen+2) + 4<<20
)

// pieceCount is how many pieces of pieceSize bytes a content of size bytes
// has, without the overflow of (size + pieceSize - 1) / pieceSize.
func pieceCount(size, pieceSize int64) int64 {
	n := size / pieceSize
	if size%pieceSize != 0 {
		n++
	}
	return n
}

// checkTarget checks the content's untrusted metadata against the limits
// that need no disk: a well-formed SHA-256 and piece root, a size from 0 to
// MaxSize and a piece size from MinPieceSize to MaxPieceSize. It fills in
// the default piece size.
func checkTarget(t *Target) error {
	if !pieces.IsHex(t.SHA256) {
		return fmt.Errorf("%w: sha256 %.80q: want 64 lowercase hex digits", ErrBadTarget, t.SHA256)
	}
	if !pieces.IsHex(t.PieceRoot) {
		return fmt.Errorf("%w: piece root %.80q: want 64 lowercase hex digits", ErrBadTarget, t.PieceRoot)
	}
	if t.Size < 0 || t.Size > MaxSize {
		return fmt.Errorf("%w: announced size %d bytes is outside 0 to %d (1 PiB)", ErrTooLarge, t.Size, int64(MaxSize))
	}
	if t.PieceSize == 0 {
		t.PieceSize = pieces.Size
	}
	if t.PieceSize < MinPieceSize || t.PieceSize > MaxPieceSize {
		return fmt.Errorf("%w: announced piece size %d bytes is outside %d to %d", ErrBadTarget, t.PieceSize, MinPieceSize, MaxPieceSize)
	}
	return nil
}

// checkPieces refuses a content of more than MaxPieces pieces. It runs after
// the free disk check, so that a content too large for the disk is reported
// as such.
func checkPieces(t Target, n int64) error {
	if n > MaxPieces {
		return fmt.Errorf("%w: %s in pieces of %s is %d pieces, more than the %d a download may have",
			ErrTooLarge, humansize.Format(t.Size), humansize.Format(t.PieceSize), n, MaxPieces)
	}
	return nil
}
