package downloader_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// benchSize reads a size in bytes from the environment variable env ("1GiB",
// "256MiB", "64KiB" or a plain number of bytes), or returns def.
func benchSize(b *testing.B, env string, def int64) int64 {
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return def
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a size such as 1GiB, 256MiB or 1048576", env, os.Getenv(env))
	}
	return n * mult
}

// curlSHA256 fetches url with the real curl, hashes it with the real
// openssl, checks the hash and returns how long it took.
func curlSHA256(b *testing.B, url, want string) time.Duration {
	start := time.Now()
	out, err := exec.Command("sh", "-c", "curl -s "+url+" | openssl sha256").CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("curl | openssl: %v: %s", err, out)
	}
	if !strings.Contains(string(out), want) {
		b.Fatalf("curl | openssl printed %q, want %s", out, want)
	}
	return d
}

// BenchmarkGet downloads one file from one source (download, verify every
// piece and the whole, write, sync, rename) and compares it with fetching
// the same file from a plain net/http server with `curl -s URL | openssl
// sha256`, measured in the same iterations. The size is
// $PEERHUB_BENCH_SIZE (default 256MiB).
//
// Metrics: MiB/s (peerhub get), curl_MiB/s (the baseline), ratio (peerhub /
// baseline; the goal is >= 1), and the CPU time each used per GiB
// (cpu_s/GiB, curl_cpu_s/GiB), which a busy machine distorts less than
// wall time.
func BenchmarkGet(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("curl not installed")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		b.Skip("openssl not installed")
	}
	size := benchSize(b, "PEERHUB_BENCH_SIZE", 256*mib)
	a := newAuth(b)
	src, sum := content(b, "bench.bin", size)
	url := testutil.ServeFile(b, filepath.Join(src, "bench.bin"))
	p := startPeer(b, a, src, peerOptions{})
	tgt := target(b, a, p, sum)
	tok := a.token(b)
	destDir := b.TempDir()
	o := downloader.Options{
		Token:            tok,
		PiecesPerSource:  int(benchSize(b, "PEERHUB_BENCH_PER_SOURCE", downloader.DefaultPiecesPerSource)),
		PiecesPerRequest: int(benchSize(b, "PEERHUB_BENCH_PER_REQUEST", downloader.DefaultPiecesPerRequest)),
	}
	// Warm both paths once (page cache, connections, validators).
	curlSHA256(b, url, sum)
	o.Dest = filepath.Join(destDir, "warm.bin")
	if _, err := downloader.Download(b.Context(), tgt, sources(p), o); err != nil {
		b.Fatal(err)
	}
	os.Remove(o.Dest)

	var curl, get, curlCPU, getCPU time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		self0, child0 := cpuTime()
		curl += curlSHA256(b, url, sum)
		self1, child1 := cpuTime()
		// The baseline's CPU: curl and openssl, plus the in-process
		// net/http server.
		curlCPU += child1 - child0 + self1 - self0
		o.Dest = filepath.Join(destDir, fmt.Sprintf("get-%d.bin", i))
		b.StartTimer()
		start := time.Now()
		if _, err := downloader.Download(b.Context(), tgt, sources(p), o); err != nil {
			b.Fatal(err)
		}
		get += time.Since(start)
		b.StopTimer()
		self2, _ := cpuTime()
		// Download's CPU, the peer serving it included.
		getCPU += self2 - self1
		os.Remove(o.Dest)
		b.StartTimer()
	}
	mibs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / mib }
	perGiB := func(d time.Duration) float64 { return d.Seconds() / (float64(size) * float64(b.N) / (1 << 30)) }
	b.ReportMetric(mibs(get), "MiB/s")
	b.ReportMetric(mibs(curl), "curl_MiB/s")
	b.ReportMetric(mibs(get)/mibs(curl), "ratio")
	if getCPU > 0 {
		b.ReportMetric(perGiB(getCPU), "cpu_s/GiB")
		b.ReportMetric(perGiB(curlCPU), "curl_cpu_s/GiB")
	}
}

// BenchmarkGetThreeCapped downloads one file from three sources whose
// peers each send at most 8 MiB/s, and reports the aggregate rate
// (agg_MiB/s, the goal is >= 2.7×8 = 21.6). The size is
// $PEERHUB_BENCH_CAPPED_SIZE (default 128MiB).
func BenchmarkGetThreeCapped(b *testing.B) {
	const capRate = 8 * mib
	size := benchSize(b, "PEERHUB_BENCH_CAPPED_SIZE", 128*mib)
	a := newAuth(b)
	src, sum := content(b, "capped.bin", size)
	var peers []*testPeer
	for _, d := range share(b, filepath.Join(src, "capped.bin"), 3) {
		peers = append(peers, startPeer(b, a, d, peerOptions{maxRate: capRate}))
	}
	tgt := target(b, a, peers[0], sum)
	tok := a.token(b)
	destDir := b.TempDir()
	var get time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		dest := filepath.Join(destDir, fmt.Sprintf("get-%d.bin", i))
		start := time.Now()
		res, err := downloader.Download(b.Context(), tgt, sources(peers...), downloader.Options{Dest: dest, Token: tok})
		if err != nil {
			b.Fatal(err)
		}
		get += time.Since(start)
		for _, s := range res.Sources {
			if s.Pieces == 0 {
				b.Errorf("source %s served no piece", s.Peer)
			}
		}
		b.StopTimer()
		os.Remove(dest)
		b.StartTimer()
	}
	agg := float64(size) * float64(b.N) / get.Seconds() / mib
	b.ReportMetric(agg, "agg_MiB/s")
	b.ReportMetric(agg/(capRate/mib), "x_one_source")
}
