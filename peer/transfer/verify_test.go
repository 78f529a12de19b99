package transfer_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestAttackContentChangedNeverRead changes a shared file between indexing
// and a plain HTTP download (Open, as a link is served): the second piece
// is rewritten in place, size and time kept. Reading, by whole file and
// from a seek into that piece, returns the announced bytes of the first
// piece at most, then ErrChanged; the content is no longer offered.
func TestAttackContentChangedNeverRead(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(2*pieces.Size+10, 1)
	sum := testutil.SHA256Hex(data)
	for _, seek := range []int64{0, pieces.Size + 5} {
		s := newShare(t, map[string][]byte{"f.bin": data})
		svc := s.service(t, transfer.Options{})
		testutil.RewriteKeepingTimes(t, filepath.Join(s.dir, "f.bin"), pieces.Size+1000, testutil.RandBytes(100, 2))

		c, err := svc.Open(t.Context(), sum)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Seek(seek, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		c.Close()
		if !errors.Is(err, transfer.ErrChanged) {
			t.Errorf("seek %d: read %d bytes, %v; want ErrChanged", seek, len(got), err)
		}
		if int64(len(got)) > max(pieces.Size-seek, 0) || !bytes.Equal(got, data[seek:seek+int64(len(got))]) {
			t.Errorf("seek %d: read %d bytes that are not the announced first piece", seek, len(got))
		}
		if _, err := svc.Open(t.Context(), sum); !errors.Is(err, transfer.ErrNotFound) {
			t.Errorf("seek %d: Open after the change = %v, want ErrNotFound", seek, err)
		}
	}
}
