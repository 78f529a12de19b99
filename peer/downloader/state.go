package downloader

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/peerhub/peerhub/internal/sharepath"
)

// stateVersion is the format of the state file; a file of another version is
// ignored (the download starts over).
const stateVersion = 1

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

// partialPath and statePath are the names of a download's files beside its
// destination.
func partialPath(dest string) string { return dest + sharepath.PartialSuffix }
func statePath(dest string) string   { return dest + sharepath.StateSuffix }

// bitmap is a set of piece indexes.
type bitmap []byte

func newBitmap(n int) bitmap         { return make(bitmap, (n+7)/8) }
func (b bitmap) has(i int) bool      { return b[i/8]&(1<<(i%8)) != 0 }
func (b bitmap) set(i int)           { b[i/8] |= 1 << (i % 8) }
func (b bitmap) fits(n int) bool     { return len(b) == (n+7)/8 }
func (b bitmap) clear(i int)         { b[i/8] &^= 1 << (i % 8) }
func (b bitmap) equal(o bitmap) bool { return string(b) == string(o) }

// loadState reads the state file at path. A missing file is (nil, nil).
func loadState(path string) (*state, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read download state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		// A torn or foreign file: starting over is the safe answer.
		return nil, nil
	}
	return &s, nil
}

// saveState writes s to path atomically: into a temporary file in the same
// folder (named so that a peer's index skips it too), synced, then renamed
// over path. A crash leaves either the old state or the new one.
func saveState(path string, s *state) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode download state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*"+sharepath.StateSuffix)
	if err != nil {
		return fmt.Errorf("write download state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write download state: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable. Some systems cannot sync a
// folder; that only weakens durability, so its error is ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
