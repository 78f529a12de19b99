package transfer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/peer/index"
)

// readPiece reads piece i of the file f, indexed as e, into buf (at least
// pieces.Size bytes) and returns it once its SHA-256 is the one e announces.
// Every byte a peer serves passes through here: whatever changed the file
// since it was indexed (a rewrite that kept its size and times, a disk that
// returns other bytes), what leaves is what was announced or nothing.
//
// A piece that does not match, or a file that shrank, is reported to the
// catalog (Catalog.Reindex), which stops serving the file under e's content
// and indexes it again.
// Errors: ErrChanged, or a read error.
func (s *Service) readPiece(f *os.File, e index.Entry, i int, buf []byte) ([]byte, error) {
	off := int64(i) * pieces.Size
	if i < 0 || i >= len(e.PieceHashes) || off >= e.Size {
		return nil, s.changed(e, fmt.Errorf("%w: %q has no piece %d in its index entry", ErrChanged, e.Name, i))
	}
	n := int(min(pieces.Size, e.Size-off))
	k, err := f.ReadAt(buf[:n], off)
	if k < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, s.changed(e, fmt.Errorf("%w: %q shrank to %d bytes", ErrChanged, e.Name, off+int64(k)))
		}
		return nil, fmt.Errorf("read %q at %d: %w", e.Name, off, err)
	}
	if !s.skipVerify && sha256.Sum256(buf[:n]) != e.PieceHashes[i] {
		return nil, s.changed(e, fmt.Errorf("%w: piece %d of %q no longer matches its hash", ErrChanged, i, e.Name))
	}
	return buf[:n], nil
}

// changed tells the catalog that the file of e no longer holds e's content
// and returns err.
func (s *Service) changed(e index.Entry, err error) error {
	s.catalog.Reindex(e.Name, e.SHA256, err)
	return err
}
