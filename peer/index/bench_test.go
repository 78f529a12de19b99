package index

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
)

// BenchmarkScan measures a first Scan (empty cache, files in the page cache)
// of 64 files of 4 MiB, with one worker and with GOMAXPROCS workers. Besides
// MB/s it reports:
//
//   - x_sha256: throughput relative to one goroutine reading the same files
//     and running plain sha256 over them, measured just before;
//   - efficiency: throughput relative to the best the cores in use can do.
//     Every byte goes through SHA-256 twice (whole content and piece), and
//     each worker uses up to two cores (pieces.Hash), so the best is
//     min(GOMAXPROCS, 2*workers)/2 times one core's sha256 speed; 1.0 means
//     nothing is lost to scheduling or bookkeeping.
//
// The sha256 sub-benchmark is that one-core baseline on its own.
func BenchmarkScan(b *testing.B) {
	const files, size = 64, 4 << 20
	dir := b.TempDir()
	var paths []string
	for i := range files {
		paths = append(paths, writeOld(b, dir, fmt.Sprintf("d%d/f%02d", i%4, i), testutil.RandBytes(size, uint64(i))))
	}
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(files * size)
		for b.Loop() {
			if err := hashFiles(paths); err != nil {
				b.Fatal(err)
			}
		}
	})
	procs := runtime.GOMAXPROCS(0)
	for _, workers := range []int{1, procs} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			base := oneCoreSpeed(b, paths, files*size)
			b.SetBytes(files * size)
			for b.Loop() {
				ix := open(b, Options{Dir: dir, StateDir: b.TempDir(), Workers: workers})
				if _, err := ix.Scan(b.Context()); err != nil {
					b.Fatal(err)
				}
				if ix.Hashed() != files {
					b.Fatalf("hashed %d files, want %d", ix.Hashed(), files)
				}
				ix.Close()
			}
			x := float64(files*size) * float64(b.N) / b.Elapsed().Seconds() / base
			b.ReportMetric(x, "x_sha256")
			b.ReportMetric(x*2/float64(min(procs, 2*workers)), "efficiency")
		})
	}
}

// hashFiles reads each file and runs plain sha256 over it, on one goroutine.
func hashFiles(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.CopyBuffer(h, f, make([]byte, 1<<20))
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// oneCoreSpeed returns the speed of hashFiles in bytes per second, best of
// three.
func oneCoreSpeed(b *testing.B, paths []string, total int64) float64 {
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		if err := hashFiles(paths); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	return float64(total) / best.Seconds()
}
