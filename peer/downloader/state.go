package downloader

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/peerhub/peerhub/internal/pieces"
)

// stateVersion is the format of the state file; a file of another version is
// ignored (the download starts over).
const stateVersion = 1

// maxStateBytes is the largest state file read, in bytes: the bitmap of
// MaxPieces pieces in base64 and the other fields. A larger file is not one
// this package wrote, and is ignored rather than read into memory.
const maxStateBytes = (MaxPieces/8+2)/3*4 + 1024

// state is the content of a .peerhub-state file: which content the partial
// file beside it holds and which of its pieces are on disk and synced.
type state struct {
	Version   int    `json:"version"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	PieceSize int64  `json:"piece_size"`
	PieceRoot string `json:"piece_root,omitempty"`
	// Done is a bitmap of the completed pieces, piece i at bit i%8 of byte
	// i/8 (encoded as base64 by encoding/json).
	Done []byte `json:"done"`
}

// bitmap is a set of piece indexes.
type bitmap []byte

func newBitmap(n int) bitmap         { return make(bitmap, (n+7)/8) }
func (b bitmap) has(i int) bool      { return b[i/8]&(1<<(i%8)) != 0 }
func (b bitmap) set(i int)           { b[i/8] |= 1 << (i % 8) }
func (b bitmap) fits(n int) bool     { return len(b) == (n+7)/8 }
func (b bitmap) clear(i int)         { b[i/8] &^= 1 << (i % 8) }
func (b bitmap) equal(o bitmap) bool { return string(b) == string(o) }

// errBadState is decodeState's error: the file is torn, foreign, of another
// version or describes an impossible content. The download then starts over.
var errBadState = errors.New("not a usable download state")

// decodeState decodes and checks a state file. The file sits in a folder
// others may write to, so it is as untrusted as anything from the network:
// it is accepted only within maxStateBytes, of this version, for a content
// within the limits (limits.go), with a bitmap of exactly its piece count and
// no bit past the last piece. Decoding allocates at most about the input's
// size.
func decodeState(data []byte) (*state, error) {
	if len(data) > maxStateBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", errBadState, len(data), maxStateBytes)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadState, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w: version %d", errBadState, s.Version)
	}
	t := Target{SHA256: s.SHA256, Size: s.Size, PieceSize: s.PieceSize, PieceRoot: s.PieceRoot}
	if s.PieceSize == 0 {
		return nil, fmt.Errorf("%w: no piece size", errBadState)
	}
	if err := checkTarget(&t); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadState, err)
	}
	n := pieceCount(s.Size, s.PieceSize)
	if err := checkPieces(t, n); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadState, err)
	}
	if !bitmap(s.Done).fits(int(n)) {
		return nil, fmt.Errorf("%w: a bitmap of %d bytes for %d pieces", errBadState, len(s.Done), n)
	}
	if n%8 != 0 && s.Done[len(s.Done)-1]>>(n%8) != 0 {
		return nil, fmt.Errorf("%w: pieces past the last one marked done", errBadState)
	}
	return &s, nil
}

// encodeState is the state file's content for s.
func encodeState(s *state) ([]byte, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode download state: %w", err)
	}
	return data, nil
}

// sameContent reports whether s describes target t (with n pieces of
// psize bytes), so that the partial file it accompanies can be resumed.
func (s *state) sameContent(t Target, psize int64, n int) bool {
	return s.SHA256 == t.SHA256 && s.Size == t.Size && s.PieceSize == psize &&
		s.PieceRoot == t.PieceRoot && bitmap(s.Done).fits(n) && len(t.PieceRoot) == 2*pieces.HashLen
}
