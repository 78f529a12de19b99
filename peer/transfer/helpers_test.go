package transfer_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
)

// share is a shared folder with its index.
type share struct {
	dir string
	ix  *index.Index
}

// newShare creates a shared folder holding files and indexes it.
func newShare(t *testing.T, files map[string][]byte) *share {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		testutil.WriteFile(t, dir, name, data)
	}
	ix, err := index.Open(t.Context(), index.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	s := &share{dir: dir, ix: ix}
	s.rescan(t)
	return s
}

func (s *share) rescan(t *testing.T) {
	t.Helper()
	if _, err := s.ix.Scan(context.WithoutCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
}

func (s *share) service(t *testing.T, o transfer.Options) *transfer.Service {
	t.Helper()
	o.Catalog, o.Root = s.ix, s.ix.Root()
	svc, err := transfer.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// download collects what Download sends, checking that chunks are
// contiguous and at most ChunkSize long.
func download(ctx context.Context, svc *transfer.Service, r transfer.Range) ([]byte, int, error) {
	var got []byte
	chunks := 0
	err := svc.Download(ctx, r, func(off int64, data []byte) error {
		if off != r.Offset+int64(len(got)) {
			return errors.New("chunk out of order")
		}
		if len(data) > svc.ChunkSize() || len(data) == 0 {
			return errors.New("chunk size out of bounds")
		}
		got = append(got, data...)
		chunks++
		return nil
	})
	return got, chunks, err
}

// chunks yields data in chunks of up to 64 KiB.
func chunks(data []byte) transfer.NextFunc {
	return func() ([]byte, error) {
		if len(data) == 0 {
			return nil, io.EOF
		}
		n := min(len(data), 64<<10)
		c := data[:n]
		data = data[n:]
		return c, nil
	}
}

// assertNoTemp fails the test if an upload left a temporary file.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(transfer.IncomingDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Errorf("%s holds %d leftover files, e.g. %s", transfer.IncomingDir, len(ents), ents[0].Name())
	}
}

func assertAbsent(t *testing.T, dir, name string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
		t.Errorf("%s exists after a failed upload", name)
	}
}
