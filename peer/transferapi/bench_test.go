//go:build unix

package transferapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

// envSize reads a size in bytes from the environment variable name: a
// number with an optional KiB, MiB or GiB suffix; def when unset.
func envSize(tb testing.TB, name string, def int64) int64 {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if s, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = s, m
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: want a size such as 1GiB", name, os.Getenv(name))
	}
	return n * mult
}

// writeRandomFile writes size pseudo-random bytes to path and returns their
// SHA-256.
func writeRandomFile(tb testing.TB, path string, size int64) string {
	tb.Helper()
	sum := testutil.WriteRandomFile(tb, path, size, 42)
	// Older than the index's racy window, so its hash can be cached.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		tb.Fatal(err)
	}
	return sum
}

// curlBaseline serves path with http.ServeFile (sendfile) and returns a
// function that fetches it once with `curl -s URL | openssl sha256` and
// reports how long that took, in wall-clock and in CPU time (the server's,
// curl's and openssl's together).
func curlBaseline(tb testing.TB, path, want string) func() (wall, cpu time.Duration) {
	tb.Helper()
	for _, tool := range []string{"curl", "openssl", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("baseline needs %s: %v", tool, err)
		}
	}
	url := testutil.ServeFile(tb, path)
	return func() (wall, cpu time.Duration) {
		cpuStart := cpuTime(syscall.RUSAGE_SELF) + cpuTime(syscall.RUSAGE_CHILDREN)
		start := time.Now()
		out, err := exec.Command("sh", "-c", "curl -s "+url+" | openssl sha256").Output()
		wall = time.Since(start)
		if err != nil {
			tb.Fatalf("curl | openssl: %v", err)
		}
		if !strings.Contains(string(out), want) {
			tb.Fatalf("curl | openssl sha256 = %s, want %s", out, want)
		}
		return wall, cpuTime(syscall.RUSAGE_SELF) + cpuTime(syscall.RUSAGE_CHILDREN) - cpuStart
	}
}

// cpuTime returns the user and system CPU time of who (RUSAGE_SELF: this
// process, all threads; RUSAGE_CHILDREN: its finished children and their
// descendants).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDownload downloads a large file (PEERHUB_BENCH_SIZE, default
// 256 MiB) over loopback h2c with the Connect client, hashing it as it
// arrives, and compares with a plain HTTP server (sendfile) fetched by
// `curl -s URL | openssl sha256`, run after each of our downloads so that
// both see the same machine load:
//
//	PEERHUB_BENCH_SIZE=1GiB go test -run '^$' -bench BenchmarkDownload -benchtime 5x ./peer/transferapi
//
// Metrics: MiB/s and curl-MiB/s (wall-clock throughput), ratio (ours over
// curl's; the goal is >= 1), cpu-ns/B and curl-cpu-ns/B (CPU time per byte
// of client and server together, which depends far less on what else the
// machine runs). PEERHUB_BENCH_CHUNK sets the chunk size (default
// transfer.DefaultChunkSize); PEERHUB_BENCH_STALL=off turns the stall
// watchdog off, to measure what it costs. Sub-benchmarks: fetch uses transferapi.Fetch,
// the zero-copy path the downloader uses; receive uses the generated stream
// API (a new DownloadResponse per chunk).
func BenchmarkDownload(b *testing.B) {
	// The top-level function runs once; its sub-benchmarks share the file.
	dir := b.TempDir()
	size := envSize(b, "PEERHUB_BENCH_SIZE", 256<<20)
	path := filepath.Join(dir, "bench.bin")
	want := writeRandomFile(b, path, size)
	curl := curlBaseline(b, path, want)
	chunk := int(envSize(b, "PEERHUB_BENCH_CHUNK", transfer.DefaultChunkSize))
	var server []func(*rpcserver.Options)
	if os.Getenv("PEERHUB_BENCH_STALL") == "off" {
		server = append(server, func(o *rpcserver.Options) { o.StallTimeout = -1 })
	}
	e := serveDir(b, dir, transfer.Options{ChunkSize: chunk}, server...)
	client := e.client(e.tokens.valid)

	run := func(b *testing.B, download func(h *hashCounter) error) {
		b.SetBytes(size)
		var ours, oursCPU, theirs, theirsCPU time.Duration
		for b.Loop() {
			start, cpuStart := time.Now(), cpuTime(syscall.RUSAGE_SELF)
			h := &hashCounter{h: sha256.New()}
			if err := download(h); err != nil {
				b.Fatal(err)
			}
			ours += time.Since(start)
			oursCPU += cpuTime(syscall.RUSAGE_SELF) - cpuStart
			if got := hex.EncodeToString(h.h.Sum(nil)); got != want || h.n != size {
				b.Fatalf("downloaded %d bytes with sha256 %s, want %d, %s", h.n, got, size, want)
			}
			b.StopTimer()
			wall, cpu := curl()
			theirs += wall
			theirsCPU += cpu
			b.StartTimer()
		}
		total := float64(size) * float64(b.N)
		mibs := total / (1 << 20) / ours.Seconds()
		curlMibs := total / (1 << 20) / theirs.Seconds()
		b.ReportMetric(mibs, "MiB/s")
		b.ReportMetric(curlMibs, "curl-MiB/s")
		b.ReportMetric(mibs/curlMibs, "ratio")
		b.ReportMetric(float64(oursCPU.Nanoseconds())/total, "cpu-ns/B")
		b.ReportMetric(float64(theirsCPU.Nanoseconds())/total, "curl-cpu-ns/B")
	}
	b.Run("fetch", func(b *testing.B) {
		run(b, func(h *hashCounter) error {
			_, err := transferapi.Fetch(b.Context(), client, dlBySHA(want, 0, 0), func(_ int64, p []byte) error {
				h.Write(p)
				return nil
			})
			return err
		})
	})
	b.Run("receive", func(b *testing.B) {
		run(b, func(h *hashCounter) error {
			stream, err := client.Download(b.Context(), connect.NewRequest(dlBySHA(want, 0, 0)))
			if err != nil {
				return err
			}
			defer stream.Close()
			for stream.Receive() {
				h.Write(stream.Msg().GetData())
			}
			return stream.Err()
		})
	})
}

// hashCounter is a SHA-256 that counts the bytes it hashed.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) {
	c.h.Write(p)
	c.n += int64(len(p))
}
