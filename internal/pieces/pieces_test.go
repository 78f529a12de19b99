package pieces

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// content returns n deterministic pseudo-random bytes.
func content(n int) []byte {
	var seed [32]byte
	seed[0], seed[1], seed[2] = byte(n), byte(n>>8), byte(n>>16)
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// reference computes the Sum of data independently of Hash: slicing the
// whole content in memory and hashing the concatenated piece hashes.
func reference(data []byte) Sum {
	s := Sum{SHA256: sha256.Sum256(data), Size: int64(len(data))}
	var cat []byte
	for off := 0; off < len(data); off += Size {
		p := sha256.Sum256(data[off:min(off+Size, len(data))])
		s.Pieces = append(s.Pieces, p)
		cat = append(cat, p[:]...)
	}
	s.Root = sha256.Sum256(cat)
	return s
}

// chunkReader returns at most n bytes per Read, as a network stream would.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

func sumsEqual(a, b Sum) bool {
	if a.SHA256 != b.SHA256 || a.Root != b.Root || a.Size != b.Size || len(a.Pieces) != len(b.Pieces) {
		return false
	}
	for i := range a.Pieces {
		if a.Pieces[i] != b.Pieces[i] {
			return false
		}
	}
	return true
}

func TestHash(t *testing.T) {
	t.Parallel()
	sizes := []struct {
		name string
		n    int
	}{
		{"0B", 0},
		{"1B", 1},
		{"Size-1", Size - 1},
		{"Size", Size},
		{"Size+1", Size + 1},
		{"2Size", 2 * Size},
		{"3Size+5", 3*Size + 5},
	}
	hashers := []struct {
		name string
		hash func(io.Reader) (Sum, error)
		wrap func(io.Reader) io.Reader
	}{
		{"Hash", Hash, func(r io.Reader) io.Reader { return r }},
		{"Hash/chunked", Hash, func(r io.Reader) io.Reader { return chunkReader{r, 7919} }},
		{"hashSerial", hashSerial, func(r io.Reader) io.Reader { return r }},
	}
	for _, sz := range sizes {
		data := content(sz.n)
		want := reference(data)
		if got := Count(int64(sz.n)); got != len(want.Pieces) {
			t.Errorf("Count(%d) = %d, want %d", sz.n, got, len(want.Pieces))
		}
		for _, h := range hashers {
			t.Run(sz.name+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				got, err := h.hash(h.wrap(bytes.NewReader(data)))
				if err != nil {
					t.Fatalf("hash: %v", err)
				}
				if !sumsEqual(got, want) {
					t.Fatalf("hash of %d bytes = %+v, want %+v", sz.n, got, want)
				}
			})
		}
	}
}

func TestHashReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, n := range []int{0, 10, Size, Size + 10, 2 * Size, 3*Size + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			r := io.MultiReader(bytes.NewReader(content(n)), iotest.ErrReader(boom))
			if _, err := Hash(r); !errors.Is(err, boom) {
				t.Fatalf("Hash = %v, want %v", err, boom)
			}
		})
	}
}

func TestRootEmpty(t *testing.T) {
	t.Parallel()
	if got, want := Root(nil), sha256.Sum256(nil); got != want {
		t.Fatalf("Root(nil) = %x, want %x", got, want)
	}
}

func TestHex(t *testing.T) {
	t.Parallel()
	h := sha256.Sum256([]byte("peerhub"))
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lower", Hex(h), true},
		{"upper", strings.ToUpper(Hex(h)), true},
		{"short", Hex(h)[:63], false},
		{"not hex", strings.Repeat("g", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseHex(tt.in)
			if tt.ok != (err == nil) || (tt.ok && got != h) {
				t.Fatalf("ParseHex(%q) = %x, %v, want ok=%v", tt.in, got, err, tt.ok)
			}
		})
	}
	if got, err := FromBytes(h[:]); err != nil || got != h {
		t.Fatalf("FromBytes = %x, %v", got, err)
	}
	if _, err := FromBytes(h[:31]); err == nil {
		t.Fatal("FromBytes(31 bytes) = nil error")
	}
}

// sha256Speed measures plain single-goroutine sha256 throughput in bytes per
// second over data, for the ratio the benchmarks report.
func sha256Speed(data []byte) float64 {
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		h := sha256.New()
		h.Write(data)
		h.Sum(nil)
		best = min(best, time.Since(start))
	}
	return float64(len(data)) / best.Seconds()
}

// BenchmarkHash compares Hash (pieces and whole content, two goroutines for
// multi-piece content), hashSerial (the same on one goroutine) and a plain
// sha256.New pass over the same bytes. x_sha256 is throughput relative to
// the plain pass: about 0.5 means two full SHA-256 passes on one core, about
// 1 means the second pass is hidden on another core.
func BenchmarkHash(b *testing.B) {
	for _, n := range []int{Size / 2, 64 * Size} {
		data := content(n)
		base := sha256Speed(data)
		run := func(name string, f func() error) {
			b.Run(fmt.Sprintf("%s/%dKiB", name, n>>10), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				speed := float64(n) * float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(speed/base, "x_sha256")
			})
		}
		run("sha256", func() error {
			h := sha256.New()
			_, err := io.Copy(h, bytes.NewReader(data))
			h.Sum(nil)
			return err
		})
		run("serial", func() error { _, err := hashSerial(bytes.NewReader(data)); return err })
		run("Hash", func() error { _, err := Hash(bytes.NewReader(data)); return err })
	}
}
