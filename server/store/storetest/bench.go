package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// BenchFilesEnv names the environment variable that sets how many files Bench
// indexes (default DefaultBenchFiles), so a quick run can use fewer.
const BenchFilesEnv = "PEERHUB_BENCH_FILES"

// DefaultBenchFiles is the size, in indexed files, of Bench's population:
// the scale the directory is built for.
const DefaultBenchFiles = 1_000_000

// benchFilesPerPeer is how many files each benchmark peer publishes.
const benchFilesPerPeer = 100

// benchPageSize is the search page size the benchmark asks for, a typical
// UI page.
const benchPageSize = 50

// touchParallelism is how many goroutines heartbeat at once in the
// concurrent TouchSession benchmark: requests in flight at a directory with
// thousands of peers.
const touchParallelism = 64

// benchSearches is how many distinct queries of each kind are cycled, so a
// result cache in front of the index would not flatter the numbers much.
const benchSearches = 200

// BulkLoader is an optional interface of stores that can build Bench's
// population in a few big transactions instead of one per peer. files[i]
// belongs to sessions[i]; the sessions are new peer sessions of existing
// accounts. It is only a speed-up: without it Bench uses CreateSession and
// ReplaceFiles.
type BulkLoader interface {
	BulkLoad(ctx context.Context, sessions []store.Session, files [][]store.File) error
}

// Bench benchmarks a store with a realistic population: PEERHUB_BENCH_FILES
// files (default 1 000 000) from peers of 100 files each, with varied names
// and content shared across peers. open must return an empty store; Bench
// closes it. Sub-benchmarks:
//
//   - Search/<kind>: one page of 50 results per op for several query
//     kinds, reporting p50 and p99 latency in ms (ns/op alone hides tails);
//   - TouchSession/serial and TouchSession/concurrent64: heartbeats one at
//     a time and from 64 goroutines, reporting heartbeats/s;
//   - ReplaceFiles10k: publishing a 10 000-entry snapshot whose names all
//     differ from the previous one ("changed"), whose contents all differ
//     ("rehashed"), or that is the same ("unchanged"), reporting entries/s.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	total := DefaultBenchFiles
	if v := os.Getenv(BenchFilesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < benchFilesPerPeer {
			b.Fatalf("%s=%q: want a number >= %d", BenchFilesEnv, v, benchFilesPerPeer)
		}
		total = n
	}
	s := open(b)
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	start := time.Now()
	pop := populate(b, s, total/benchFilesPerPeer)
	b.Logf("indexed %d files of %d peers (%d distinct contents) in %v",
		pop.files, len(pop.sessions), pop.contents, time.Since(start).Round(time.Millisecond))
	now := at(time.Minute)

	for _, kind := range pop.queryKinds() {
		b.Run("Search/"+kind.name, func(b *testing.B) {
			benchSearch(b, s, kind.queries, now)
		})
	}
	b.Run("TouchSession", func(b *testing.B) {
		var n atomic.Int64
		touch := func(b *testing.B) {
			i := n.Add(1)
			id := pop.sessions[int(i)%len(pop.sessions)]
			// Heartbeat times only move forward; expiry stays well
			// past every "now" the benchmark uses.
			beat := now.Add(time.Duration(i) * time.Microsecond)
			if _, err := s.TouchSession(b.Context(), id, beat, at(48*time.Hour)); err != nil {
				b.Fatalf("TouchSession: %v", err)
			}
		}
		// One heartbeat at a time: the latency of a lone heartbeat.
		b.Run("serial", func(b *testing.B) {
			for b.Loop() {
				touch(b)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
		})
		// Many peers heartbeating at once, as a directory serving
		// thousands of peers sees them.
		b.Run(fmt.Sprintf("concurrent%d", touchParallelism), func(b *testing.B) {
			b.SetParallelism(max(1, touchParallelism/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					touch(b)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
		})
	})
	b.Run("ReplaceFiles10k", func(b *testing.B) {
		const entries = 10_000
		mustAccountB(b, s, "bench-big")
		big := peerSession("bench-big", "bench-big", "bench-big-peer", at(48*time.Hour))
		if err := s.CreateSession(b.Context(), big, noLimit, t0); err != nil {
			b.Fatalf("CreateSession: %v", err)
		}
		snap := func(gen, content int) []store.File {
			fs := make([]store.File, entries)
			for i := range fs {
				name := fmt.Sprintf("library/gen%d/%s %05d.flac", gen, benchWords[i%len(benchWords)], i)
				fs[i] = benchFile(name, fmt.Sprintf("big-%d-%d-%d", gen, content, i), i)
			}
			return fs
		}
		names := [2][]store.File{snap(0, 0), snap(1, 0)}
		contents := [2][]store.File{snap(0, 0), snap(0, 1)}
		for _, c := range []struct {
			name  string
			prime []store.File // published before timing
			pick  func(i int) []store.File
		}{
			// Every name differs from the previous snapshot.
			{"changed", names[1], func(i int) []store.File { return names[i%2] }},
			// Same names, every content differs.
			{"rehashed", contents[1], func(i int) []store.File { return contents[i%2] }},
			// The same snapshot again.
			{"unchanged", names[0], func(int) []store.File { return names[0] }},
		} {
			b.Run(c.name, func(b *testing.B) {
				if _, err := s.ReplaceFiles(b.Context(), big.ID, c.prime, peerLimit(entries), now); err != nil {
					b.Fatalf("ReplaceFiles: %v", err)
				}
				for i := 0; b.Loop(); i++ {
					n, err := s.ReplaceFiles(b.Context(), big.ID, c.pick(i), peerLimit(entries), now)
					if err != nil || n != entries {
						b.Fatalf("ReplaceFiles = %d, %v", n, err)
					}
				}
				b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	})
}

// benchSearch runs queries round-robin, one page each, and reports latency
// percentiles and the mean result count.
func benchSearch(b *testing.B, s store.Store, queries []store.SearchQuery, now time.Time) {
	lat := make([]time.Duration, 0, 1024)
	results := 0
	for i := 0; b.Loop(); i++ {
		q := queries[i%len(queries)]
		start := time.Now()
		rs, _, err := s.Search(b.Context(), q, now)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatalf("Search(%+v): %v", q, err)
		}
		results += len(rs)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := min(len(lat)-1, int(p*float64(len(lat))))
		return float64(lat[i].Nanoseconds()) / 1e6
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(results)/float64(len(lat)), "results/op")
}

// mustAccountB creates an account for a benchmark.
func mustAccountB(b *testing.B, s store.Store, name string) {
	b.Helper()
	if err := s.CreateAccount(b.Context(), store.Account{Name: name, PasswordHash: []byte("x"), Created: t0}); err != nil {
		b.Fatalf("CreateAccount: %v", err)
	}
}

// population is what populate built.
type population struct {
	sessions []string // session ids
	files    int
	contents int
	sample   []store.File // a spread of indexed files, for queries
	rng      *rand.Rand
}

// benchFile makes an entry; seed varies size and time.
func benchFile(name, content string, seed int) store.File {
	h := sha256.Sum256([]byte(content))
	p := sha256.Sum256(h[:])
	return store.File{
		Name:      name,
		Size:      int64(seed%50_000_000) + 1,
		SHA256:    hex.EncodeToString(h[:]),
		PieceSize: 1 << 20,
		PieceRoot: hex.EncodeToString(p[:]),
		Modified:  t0.Add(-time.Duration(seed) * time.Minute),
	}
}

// populate indexes peers*benchFilesPerPeer files. About one file in ten is a
// popular content held by about five peers, under the same or another name.
func populate(b *testing.B, s store.Store, peers int) *population {
	b.Helper()
	ctx := b.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	pop := &population{rng: rng}
	const accounts = 100
	for i := range accounts {
		mustAccountB(b, s, fmt.Sprint("user", i))
	}
	popular := make([]store.File, max(1, peers*benchFilesPerPeer/50))
	for i := range popular {
		popular[i] = benchFile(benchName(rng), fmt.Sprint("popular-", i), i)
	}
	contents := map[string]struct{}{}

	const batch = 1000 // peers per bulk transaction
	bulk, _ := s.(BulkLoader)
	var sessions []store.Session
	var files [][]store.File
	flush := func() {
		if len(sessions) == 0 {
			return
		}
		if bulk != nil {
			if err := bulk.BulkLoad(ctx, sessions, files); err != nil {
				b.Fatalf("BulkLoad: %v", err)
			}
		} else {
			for i, sess := range sessions {
				if err := s.CreateSession(ctx, sess, noLimit, t0); err != nil {
					b.Fatalf("CreateSession: %v", err)
				}
				if _, err := s.ReplaceFiles(ctx, sess.ID, files[i], peerLimit(benchFilesPerPeer), t0); err != nil {
					b.Fatalf("ReplaceFiles: %v", err)
				}
			}
		}
		sessions, files = sessions[:0], files[:0]
	}
	for p := range peers {
		sess := peerSession(fmt.Sprintf("bench-session-%06d", p), fmt.Sprint("user", p%accounts), fmt.Sprintf("peer-%06d", p), at(24*time.Hour))
		fs := make([]store.File, 0, benchFilesPerPeer)
		names := map[string]bool{}
		for len(fs) < benchFilesPerPeer {
			var f store.File
			if rng.IntN(10) == 0 {
				f = popular[rng.IntN(len(popular))]
				if rng.IntN(3) == 0 {
					f.Name = benchName(rng) // same content, another name
				}
			} else {
				f = benchFile(benchName(rng), fmt.Sprintf("peer-%d-file-%d", p, len(fs)), p*benchFilesPerPeer+len(fs))
			}
			if names[f.Name] {
				continue
			}
			names[f.Name] = true
			contents[f.SHA256] = struct{}{}
			fs = append(fs, f)
			if rng.IntN(500) == 0 {
				pop.sample = append(pop.sample, f)
			}
		}
		pop.sessions = append(pop.sessions, sess.ID)
		pop.files += len(fs)
		sessions, files = append(sessions, sess), append(files, fs)
		if len(sessions) == batch {
			flush()
		}
	}
	flush()
	pop.contents = len(contents)
	if len(pop.sample) == 0 {
		pop.sample = popular[:1]
	}
	return pop
}

// queryKind is a named set of queries.
type queryKind struct {
	name    string
	queries []store.SearchQuery
}

// queryKinds derives benchmark queries from the population.
func (pop *population) queryKinds() []queryKind {
	rng := pop.rng
	gen := func(f func() store.SearchQuery) []store.SearchQuery {
		qs := make([]store.SearchQuery, benchSearches)
		for i := range qs {
			qs[i] = f()
			qs[i].PageSize = benchPageSize
		}
		return qs
	}
	sample := func() store.File { return pop.sample[rng.IntN(len(pop.sample))] }
	word := func() string { return benchWords[rng.IntN(len(benchWords))] }
	kinds := []queryKind{
		// A word of the vocabulary: thousands of matches.
		{"word", gen(func() store.SearchQuery { return store.SearchQuery{Query: word()} })},
		// An extension: a fifth of the index matches.
		{"extension", gen(func() store.SearchQuery {
			return store.SearchQuery{Query: benchExts[rng.IntN(len(benchExts))]}
		})},
		// Part of a word, any case.
		{"fragment", gen(func() store.SearchQuery {
			w := []rune(word())
			i := rng.IntN(max(1, len(w)-3))
			return store.SearchQuery{Query: strings.ToUpper(string(w[i : i+min(len(w)-i, 3+rng.IntN(2))]))}
		})},
		// Two words: common trigrams, few matches.
		{"two-words", gen(func() store.SearchQuery { return store.SearchQuery{Query: word() + " " + word()} })},
		// A long piece of an existing name: a handful of matches.
		{"exact-name", gen(func() store.SearchQuery {
			n := []rune(sample().Name)
			return store.SearchQuery{Query: string(n[len(n)/3:])}
		})},
		// Nothing matches.
		{"miss", gen(func() store.SearchQuery {
			b := make([]byte, 7)
			for i := range b {
				b[i] = byte('a' + rng.IntN(26))
			}
			return store.SearchQuery{Query: "zq" + string(b)}
		})},
		{"sha256", gen(func() store.SearchQuery { return store.SearchQuery{SHA256: sample().SHA256} })},
	}
	// Every kind mixed, as a directory sees them.
	var mixed []store.SearchQuery
	for i := range benchSearches {
		mixed = append(mixed, kinds[i%len(kinds)].queries[i])
	}
	return append(kinds, queryKind{"mixed", mixed})
}

// benchName returns a realistic file name: music, photos, documents, video,
// archives, with words, numbers and some non-ASCII.
func benchName(rng *rand.Rand) string {
	w := func() string { return benchWords[rng.IntN(len(benchWords))] }
	title := func() string {
		r := []rune(w())
		return strings.ToUpper(string(r[:1])) + string(r[1:])
	}
	switch rng.IntN(5) {
	case 0:
		return fmt.Sprintf("music/%s %s/%02d - %s %s.%s", title(), title(), rng.IntN(20)+1, title(), w(),
			[]string{"mp3", "flac", "ogg", "m4a"}[rng.IntN(4)])
	case 1:
		return fmt.Sprintf("photos/%d/%s/IMG_%04d.%s", 2005+rng.IntN(20), w(), rng.IntN(10000),
			[]string{"jpg", "JPG", "png", "heic"}[rng.IntN(4)])
	case 2:
		return fmt.Sprintf("docs/%s_%s_%d.%s", w(), w(), 2000+rng.IntN(26),
			[]string{"pdf", "docx", "txt", "odt", "xlsx"}[rng.IntN(5)])
	case 3:
		return fmt.Sprintf("video/%s %s S%02dE%02d %s.%s", title(), title(), rng.IntN(12)+1, rng.IntN(24)+1,
			[]string{"720p", "1080p", "2160p"}[rng.IntN(3)], []string{"mkv", "mp4", "avi"}[rng.IntN(3)])
	default:
		return fmt.Sprintf("software/%s-%s-%d.%d.%d.%s", w(), w(), rng.IntN(5), rng.IntN(20), rng.IntN(10),
			[]string{"tar.gz", "zip", "iso", "deb"}[rng.IntN(4)])
	}
}

// benchExts are extension queries.
var benchExts = []string{".mp3", ".flac", ".jpg", ".pdf", ".mkv", ".zip", ".docx", ".png"}

// benchWords is the benchmark's vocabulary.
var benchWords = []string{
	"love", "night", "summer", "river", "dream", "light", "heart", "fire", "rain", "shadow",
	"ocean", "star", "moon", "sun", "city", "road", "home", "storm", "winter", "garden",
	"silver", "golden", "broken", "wild", "blue", "red", "green", "black", "white", "little",
	"dance", "song", "story", "world", "time", "life", "memory", "journey", "echo", "stone",
	"forest", "mountain", "valley", "island", "desert", "bridge", "tower", "castle", "window", "mirror",
	"report", "invoice", "budget", "meeting", "notes", "draft", "final", "review", "plan", "summary",
	"project", "design", "manual", "guide", "thesis", "chapter", "lecture", "slides", "contract", "letter",
	"holiday", "wedding", "birthday", "family", "friends", "beach", "party", "trip", "school", "concert",
	"kernel", "server", "client", "linux", "debian", "python", "golang", "backup", "archive", "toolkit",
	"canción", "corazón", "café", "niño", "über", "straße", "smörgåsbord", "façade", "naïve", "crème",
	"angel", "tiger", "eagle", "wolf", "dragon", "phoenix", "falcon", "lion", "raven", "fox",
	"alpha", "omega", "delta", "sigma", "gamma", "nova", "zen", "pixel", "quantum", "vector",
}
