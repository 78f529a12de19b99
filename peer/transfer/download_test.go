package transfer_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

func TestStat(t *testing.T) {
	t.Parallel()
	a := testutil.RandBytes(pieces.Size+1, 1)
	s := newShare(t, map[string][]byte{"x/a.bin": a, "b.bin": a, "c.txt": []byte("c")})
	svc := s.service(t, transfer.Options{})
	tests := []struct {
		name    string
		target  transfer.Target
		want    []string
		wantErr error
	}{
		{"by hash", transfer.Target{SHA256: testutil.SHA256Hex(a)}, []string{"b.bin", "x/a.bin"}, nil},
		{"by name lists every name", transfer.Target{Name: "x/a.bin"}, []string{"b.bin", "x/a.bin"}, nil},
		{"single", transfer.Target{Name: "c.txt"}, []string{"c.txt"}, nil},
		{"unknown hash", transfer.Target{SHA256: strings.Repeat("0", 64)}, nil, transfer.ErrNotFound},
		{"unknown name", transfer.Target{Name: "nope"}, nil, transfer.ErrNotFound},
		{"uppercase hash", transfer.Target{SHA256: strings.ToUpper(testutil.SHA256Hex(a))}, nil, transfer.ErrInvalid},
		{"no target", transfer.Target{}, nil, transfer.ErrInvalid},
		{"two targets", transfer.Target{SHA256: testutil.SHA256Hex(a), Name: "b.bin"}, nil, transfer.ErrInvalid},
		{"state folder", transfer.Target{Name: ".peerhub/cache"}, nil, transfer.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, err := svc.Stat(t.Context(), tt.target)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Stat: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(info.Names, tt.want) {
				t.Errorf("Names = %q, want %q", info.Names, tt.want)
			}
			if tt.target.Name == "c.txt" {
				return
			}
			sum, err := pieces.Hash(bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			if info.SHA256 != testutil.SHA256Hex(a) || info.Size != int64(len(a)) || info.PieceSize != pieces.Size ||
				!slices.Equal(info.PieceHashes, sum.Pieces) || info.PieceRoot != pieces.Hex(sum.Root) {
				t.Errorf("Stat = %+v, want the content's hashes", info)
			}
			if info.Modified.IsZero() {
				t.Error("Modified is zero")
			}
		})
	}
}

func TestDownloadRanges(t *testing.T) {
	t.Parallel()
	const chunk = 64 << 10 // bytes
	data := testutil.RandBytes(4*chunk+123, 2)
	size := int64(len(data))
	s := newShare(t, map[string][]byte{"f.bin": data, "empty": nil})
	svc := s.service(t, transfer.Options{ChunkSize: chunk})
	tests := []struct {
		name     string
		r        transfer.Range
		from, to int64
		wantErr  error
	}{
		{"whole", transfer.Range{Offset: 0}, 0, size, nil},
		{"prefix", transfer.Range{Length: 10}, 0, 10, nil},
		{"middle across chunks", transfer.Range{Offset: 1000, Length: 200_000}, 1000, 201_000, nil},
		{"to end from offset", transfer.Range{Offset: size - 5}, size - 5, size, nil},
		{"length past end is cut", transfer.Range{Offset: 7, Length: size}, 7, size, nil},
		{"offset at end is empty", transfer.Range{Offset: size}, size, size, nil},
		{"offset past end", transfer.Range{Offset: size + 1}, 0, 0, transfer.ErrOutOfRange},
		{"negative offset", transfer.Range{Offset: -1}, 0, 0, transfer.ErrInvalid},
		{"negative length", transfer.Range{Length: -1}, 0, 0, transfer.ErrInvalid},
	}
	for _, tt := range tests {
		for by, target := range map[string]transfer.Target{"name": {Name: "f.bin"}, "sha256": {SHA256: testutil.SHA256Hex(data)}} {
			t.Run(tt.name+"/by "+by, func(t *testing.T) {
				t.Parallel()
				r := tt.r
				r.Target = target
				got, _, err := download(t.Context(), svc, r)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Download: %v, want %v", err, tt.wantErr)
				}
				if err == nil && !bytes.Equal(got, data[tt.from:tt.to]) {
					t.Errorf("got %d bytes, want [%d, %d)", len(got), tt.from, tt.to)
				}
			})
		}
	}
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		got, chunks, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{Name: "empty"}})
		if err != nil || len(got) != 0 || chunks != 0 {
			t.Errorf("Download = %d bytes in %d chunks, %v; want nothing", len(got), chunks, err)
		}
	})
}

func TestDownloadChangedSinceIndexed(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(100_000, 3)
	tests := []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"appended", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("more"))
			f.Close()
		}},
		{"truncated", func(t *testing.T, p string) { os.Truncate(p, 10) }},
		{"touched", func(t *testing.T, p string) {
			os.Chtimes(p, time.Time{}, time.Now().Add(time.Hour))
		}},
		{"deleted", func(t *testing.T, p string) { os.Remove(p) }},
		{"replaced by a folder", func(t *testing.T, p string) {
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newShare(t, map[string][]byte{"f.bin": data})
			svc := s.service(t, transfer.Options{})
			tt.change(t, filepath.Join(s.dir, "f.bin"))
			for i, target := range []transfer.Target{{Name: "f.bin"}, {SHA256: testutil.SHA256Hex(data)}} {
				got, _, err := download(t.Context(), svc, transfer.Range{Target: target})
				// The first download finds the change and drops the
				// file from the index until it is hashed again.
				if len(got) != 0 || !(errors.Is(err, transfer.ErrChanged) || i > 0 && errors.Is(err, transfer.ErrNotFound)) {
					t.Errorf("Download(%v) = %d bytes, %v; want nothing, ErrChanged (or ErrNotFound once dropped)", target, len(got), err)
				}
			}
			if _, ok := s.ix.ByName("f.bin"); ok {
				t.Error("the changed file is still indexed under its old content")
			}
		})
	}
	t.Run("another name still matches", func(t *testing.T) {
		t.Parallel()
		s := newShare(t, map[string][]byte{"a.bin": data, "b.bin": data})
		svc := s.service(t, transfer.Options{})
		os.Remove(filepath.Join(s.dir, "a.bin"))
		got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{SHA256: testutil.SHA256Hex(data)}})
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Download = %d bytes, %v; want the content from b.bin", len(got), err)
		}
	})
}

// TestDownloadMemoryFlat checks that a download's memory does not grow with
// the file: chunks come from a pool, so many megabytes cost a few
// allocations. It is not parallel: it counts the allocations of the whole
// process.
func TestDownloadMemoryFlat(t *testing.T) {
	data := testutil.RandBytes(32<<20, 7)
	s := newShare(t, map[string][]byte{"f": data})
	svc := s.service(t, transfer.Options{})
	r := transfer.Range{Target: transfer.Target{SHA256: testutil.SHA256Hex(data)}}
	discard := func(int64, []byte) error { return nil }
	if err := svc.Download(t.Context(), r, discard); err != nil { // warm the pool
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 8
	var wg sync.WaitGroup
	for range runs {
		wg.Go(func() {
			if err := svc.Download(t.Context(), r, discard); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	// Each concurrent download beyond the pool's may allocate one piece
	// buffer (a piece is read and verified whole before it is sent);
	// nothing is allocated per chunk.
	limit := uint64(runs*pieces.Size + 1<<20)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("%d downloads of %d MiB allocated %d bytes, want at most %d", runs, len(data)>>20, got, limit)
	}
}
