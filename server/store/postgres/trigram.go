package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Choosing which trigrams probe the index.
//
// The GIN index answers name_lower LIKE '%query%' by intersecting the
// posting lists of every trigram of the query, so a long query made of
// common trigrams ("report 2003 final") reads tens of thousands of index
// entries even when one name matches. Instead, probe asks the index for
// the AND of a few of the query's rarest trigrams and checks each candidate
// with strpos() on the lowered name, which the index cannot serve and which
// is exact. Rarity comes from the names of the column's histogram
// (pg_stats, refreshed by ANALYZE: a sample of up to 1000 names, see the
// schema's SET STATISTICS); it only steers speed, never results.

const (
	// maxTerms is the most trigrams a probe ANDs: every term costs a
	// posting list to read, which beyond a few costs more than checking
	// the extra candidates.
	maxTerms = 4
	// targetCandidates is the estimated candidate count, in rows, below
	// which adding a term no longer pays: checking a candidate costs a
	// few microseconds.
	targetCandidates = 200
	// sampleTTL is how long a trigram sample is used before it is read
	// again: the histogram changes only when the table is analyzed.
	sampleTTL = time.Minute
)

// sqlSample reads the lowered names of the files table's histogram and the
// planner's row count of the table.
const sqlSample = `SELECT coalesce((SELECT st.histogram_bounds::text::text[] FROM pg_stats st
		WHERE st.schemaname = n.nspname AND st.tablename = 'files' AND st.attname = 'name_lower'), '{}'),
		c.reltuples
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = 'files'::regclass`

// trigramSample estimates the share of stored names containing a trigram.
type trigramSample struct {
	loaded time.Time
	names  int              // names read
	files  float64          // files in the table, as the planner counts them
	counts map[string]int32 // trigram -> sampled names containing it
}

// trigramSampler caches a trigramSample, reading a new one once it is
// older than sampleTTL.
type trigramSampler struct {
	cur     atomic.Pointer[trigramSample]
	reading atomic.Bool
}

// get returns the current sample, reading a new one first if there is none
// or it is stale and no other caller is reading one. A failed read keeps
// the old sample (nil at first): it only steers speed.
func (ts *trigramSampler) get(ctx context.Context, s *Store) *trigramSample {
	cur := ts.cur.Load()
	if cur != nil && time.Since(cur.loaded) < sampleTTL {
		return cur
	}
	if !ts.reading.CompareAndSwap(false, true) {
		return cur
	}
	defer ts.reading.Store(false)
	next, err := s.readSample(ctx)
	if err != nil {
		return cur
	}
	ts.cur.Store(next)
	return next
}

// readSample reads the histogram's names and counts their trigrams.
func (s *Store) readSample(ctx context.Context) (*trigramSample, error) {
	var names []string
	var files float32
	if err := s.pool.QueryRow(ctx, sqlSample).Scan(&names, &files); err != nil {
		return nil, fmt.Errorf("search: trigram sample: %w", err)
	}
	ts := &trigramSample{loaded: time.Now(), names: len(names), files: float64(files), counts: make(map[string]int32)}
	for _, name := range names {
		tris, _ := trigrams(name)
		for _, t := range tris {
			ts.counts[t]++
		}
	}
	return ts, nil
}

// trigrams returns the distinct trigrams of s (by characters) with the
// position of their first occurrence.
func trigrams(s string) (tris []string, pos []int) {
	r := []rune(s)
	seen := make(map[string]bool, len(r))
	for i := 0; i+3 <= len(r); i++ {
		t := string(r[i : i+3])
		if !seen[t] {
			seen[t] = true
			tris, pos = append(tris, t), append(pos, i)
		}
	}
	return tris, pos
}

// indexable reports whether pg_trgm keeps t whole as the one trigram of the
// pattern '%t%': only if all three characters are word characters. ASCII
// letters and digits are word characters in every locale; other characters
// depend on the database's, so they are left to the full pattern.
func indexable(t string) bool {
	for _, c := range []byte(t) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return len(t) == 3
}

// probeTerms returns the trigrams of a lowered query whose AND the probe
// asks the index for: up to maxTerms indexable trigrams, chosen greedily to
// shrink the estimated candidate count fastest, until it drops below
// targetCandidates. Overlapping trigrams are correlated (sharing two
// characters, one nearly implies the other), so a term's selectivity counts
// only for the characters it adds to the ones already chosen. It returns
// none if the query has no indexable trigram; the probe then uses the full
// pattern.
func (ts *trigramSample) probeTerms(q string) []string {
	tris, pos := trigrams(q)
	sel := make([]float64, len(tris))
	est := float64(1 << 40) // unknown size: every term helps
	sampled := ts != nil && ts.names > 0
	for i, t := range tris {
		sel[i] = 1.0 / 64 // without a sample, all terms look alike
		if sampled {
			sel[i] = (float64(ts.counts[t]) + 0.5) / float64(ts.names)
		}
	}
	if sampled && ts.files > 0 {
		est = ts.files
	}
	var chosen []int
	covered := make([]bool, len([]rune(q)))
	for len(chosen) < maxTerms && (len(chosen) == 0 || est > targetCandidates) {
		best, bestSel := -1, 1.0
		for i, t := range tris {
			if slices.Contains(chosen, i) || !indexable(t) {
				continue
			}
			fresh := 0
			for c := pos[i]; c < pos[i]+3; c++ {
				if !covered[c] {
					fresh++
				}
			}
			if fresh == 0 {
				continue
			}
			if eff := math.Pow(sel[i], float64(fresh)/3); eff < bestSel {
				best, bestSel = i, eff
			}
		}
		if best < 0 {
			break
		}
		// Trigrams of one word are correlated even apart: count only
		// half (in log terms) of each later term's selectivity.
		if len(chosen) > 0 {
			bestSel = math.Sqrt(bestSel)
		}
		chosen = append(chosen, best)
		est *= bestSel
		for c := pos[best]; c < pos[best]+3; c++ {
			covered[c] = true
		}
	}
	terms := make([]string, len(chosen))
	for i, c := range chosen {
		terms[i] = tris[c]
	}
	return terms
}

// probeSQL returns the probe statement for n ≥ 1 index terms ($3 …
// $(n+2), each a LIKE pattern), the lowered query being $1, the id to start
// after $2 and the row cap $(n+3).
func probeSQL(n int) string {
	var b strings.Builder
	b.WriteString(`SELECT id FROM files WHERE `)
	for i := range n {
		fmt.Fprintf(&b, "name_lower LIKE $%d AND ", i+3)
	}
	// strpos, not LIKE: the index must not add the full query's trigrams
	// back into its scan.
	fmt.Fprintf(&b, "strpos(name_lower, $1) > 0 AND id > $2 LIMIT $%d", n+3)
	return b.String()
}

// sqlProbeTerms are the probe statements by number of index terms, less
// one.
var sqlProbeTerms = func() [maxTerms]string {
	var out [maxTerms]string
	for i := range out {
		out[i] = probeSQL(i + 1)
	}
	return out
}()
