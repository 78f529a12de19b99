package downloader_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// faulty returns Options.OpenFolder that opens the real folder through an
// outfs.Faulty, and that Faulty once opened.
func faulty(setup func(*outfs.Faulty)) (func(string) (outfs.Folder, error), func() *outfs.Faulty) {
	var d *outfs.Faulty
	return func(dir string) (outfs.Folder, error) {
		f, err := outfs.Open(dir)
		if err != nil {
			return nil, err
		}
		d = outfs.NewFaulty(f)
		setup(d)
		return d, nil
	}, func() *outfs.Faulty { return d }
}

// names lists dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

// TestDiskFullAtStart fills the disk at each write a download does before
// it fetches anything: the download fails with ErrDiskFull and leaves no
// file of its own behind, but a partial file from before the run.
func TestDiskFullAtStart(t *testing.T) {
	t.Parallel()
	a, peers, tgt, _ := served(t, "s.bin", 3*mib, peerOptions{})
	for _, tt := range []struct {
		op     outfs.Op
		suffix string
	}{
		{outfs.OpAllocate, sharepath.PartialSuffix},
		{outfs.OpCreate, sharepath.StateSuffix},
		{outfs.OpAllocate, sharepath.StateSuffix},
	} {
		for _, before := range []bool{false, true} {
			name := tt.op.String() + tt.suffix
			if before {
				name += ",partial from before"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				dest := filepath.Join(dir, "s.bin")
				if before {
					if err := os.WriteFile(dest+sharepath.PartialSuffix, []byte("old"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				open, _ := faulty(func(d *outfs.Faulty) { d.FailAfter(tt.op, tt.suffix, 0) })
				res, err := downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{Dest: dest, Token: a.token(t), OpenFolder: open})
				if !errors.Is(err, downloader.ErrDiskFull) || res != nil {
					t.Fatalf("Download = %+v, %v; want ErrDiskFull and no result", res, err)
				}
				want := []string(nil)
				if before {
					want = []string{"s.bin" + sharepath.PartialSuffix}
				}
				if got := names(t, dir); !slices.Equal(got, want) {
					t.Fatalf("left %v, want %v", got, want)
				}
			})
		}
	}
}

// TestDiskFullMidDownload fills the disk at each write a download does
// once it runs: writing a piece, syncing the complete file, moving it into
// place. The download stops with ErrDiskFull, keeps the partial file and
// its state and nothing else; once there is room again the same call
// resumes and the peer sends only the pieces the first run did not write.
func TestDiskFullMidDownload(t *testing.T) {
	t.Parallel()
	const size = 24 * mib
	a, peers, tgt, _ := served(t, "m.bin", size, peerOptions{maxRate: 48 * mib})
	p := peers[0]
	for _, tt := range []struct {
		op     outfs.Op
		suffix string
		after  int
	}{
		{outfs.OpWrite, sharepath.PartialSuffix, 5},
		{outfs.OpSync, sharepath.PartialSuffix, 0},
		{outfs.OpRename, "m.bin", 0},
	} {
		t.Run(tt.op.String(), func(t *testing.T) {
			// Not parallel: each counts what the one peer sends.
			dir := t.TempDir()
			dest := filepath.Join(dir, "m.bin")
			open, _ := faulty(func(d *outfs.Faulty) { d.FailAfter(tt.op, tt.suffix, tt.after) })
			p.resetSent(t)
			first, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t), OpenFolder: open})
			if !errors.Is(err, downloader.ErrDiskFull) {
				t.Fatalf("Download: %v, want ErrDiskFull", err)
			}
			if first == nil || first.Path != dest+sharepath.PartialSuffix || first.FetchedBytes == 0 {
				t.Fatalf("result %+v, want the partial file kept with pieces in it", first)
			}
			if tt.op == outfs.OpWrite && first.FetchedPieces != tt.after {
				t.Errorf("first run wrote %d pieces, the disk took %d", first.FetchedPieces, tt.after)
			}
			if got, want := names(t, dir), []string{"m.bin" + sharepath.PartialSuffix, "m.bin" + sharepath.StateSuffix}; !slices.Equal(got, want) {
				t.Fatalf("left %v, want %v", got, want)
			}

			// Room again: the real folder.
			p.resetSent(t)
			second, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t)})
			if err != nil {
				t.Fatalf("resumed download: %v", err)
			}
			if second.ResumedBytes != first.FetchedBytes {
				t.Errorf("resumed %d bytes, the first run wrote %d", second.ResumedBytes, first.FetchedBytes)
			}
			if sent := p.sent.Load(); sent != size-first.FetchedBytes || sent != second.FetchedBytes {
				t.Errorf("peer sent %d bytes in the second run, want only the %d the first did not write", sent, size-first.FetchedBytes)
			}
			if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
				t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"m.bin"}) {
				t.Fatalf("left %v, want only m.bin", got)
			}
		})
	}
}

// TestStateSaveFailureDoesNotStopDownload fills the disk for the state
// file's saves only: the download goes on in the space reserved for it and
// completes.
func TestStateSaveFailureDoesNotStopDownload(t *testing.T) {
	t.Parallel()
	a, peers, tgt, dest := served(t, "k.bin", 16*mib, peerOptions{maxRate: 32 * mib})
	open, fsys := faulty(func(d *outfs.Faulty) { d.FailAfter(outfs.OpWrite, sharepath.StateSuffix, 0) })
	_, err := downloader.Download(t.Context(), tgt, sources(peers[0]), downloader.Options{
		Dest: dest, Token: a.token(t), OpenFolder: open, CommitInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if n := fsys().Calls(outfs.OpWrite, sharepath.StateSuffix); n == 0 {
		t.Fatal("no state save was tried: the test did not test anything")
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
}
