//go:build unix

package transfer_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
)

// processCPU returns the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServeVerify measures what checking every piece against its
// hash before sending it costs a serving peer: Download of one file (from
// the page cache, to a sink that drops the chunks) with verification, as
// peers serve, against the same Download without it, run alternately in
// the same loop. It reports the CPU per byte of each and their ratio.
// PEERHUB_BENCH_SIZE sets the file size in MiB (default 256).
func BenchmarkServeVerify(b *testing.B) {
	mib := int64(256)
	if v, err := strconv.ParseInt(os.Getenv("PEERHUB_BENCH_SIZE"), 10, 64); err == nil && v > 0 {
		mib = v
	}
	size := mib << 20
	dir := b.TempDir()
	sum := testutil.WriteRandomFile(b, filepath.Join(dir, "f.bin"), size, 1)
	ix, err := index.Open(b.Context(), index.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.Scan(b.Context()); err != nil {
		b.Fatal(err)
	}
	service := func(verify bool) *transfer.Service {
		svc, err := transfer.New(transfer.Options{Catalog: ix, Root: ix.Root()})
		if err != nil {
			b.Fatal(err)
		}
		if !verify {
			transfer.SkipVerify(svc)
		}
		return svc
	}
	verified, plain := service(true), service(false)
	r := transfer.Range{Target: transfer.Target{SHA256: sum}}
	serve := func(svc *transfer.Service) time.Duration {
		start := processCPU()
		var n int64
		if err := svc.Download(b.Context(), r, func(_ int64, p []byte) error { n += int64(len(p)); return nil }); err != nil {
			b.Fatal(err)
		}
		if n != size {
			b.Fatalf("served %d bytes, want %d", n, size)
		}
		return processCPU() - start
	}
	serve(plain) // page cache
	b.SetBytes(size)
	var withCPU, withoutCPU time.Duration
	for b.Loop() {
		withCPU += serve(verified)
		withoutCPU += serve(plain)
	}
	total := float64(size) * float64(b.N)
	b.ReportMetric(float64(withCPU.Nanoseconds())/total, "verify-cpu-ns/B")
	b.ReportMetric(float64(withoutCPU.Nanoseconds())/total, "plain-cpu-ns/B")
	b.ReportMetric(float64(withCPU)/float64(max(withoutCPU, 1)), "cpu-ratio")
}
