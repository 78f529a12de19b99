package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/peerhub/peerhub/server/store/trigram"
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
	trigram.Sample // Files: as the planner counts them
	loaded         time.Time
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
	ts := &trigramSample{Sample: trigram.Sample{Files: float64(files)}, loaded: time.Now()}
	for _, name := range names {
		ts.Add(name)
	}
	return ts, nil
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
// asks the index for (trigram.Sample.Choose among the indexable ones). It
// returns none if the query has no indexable trigram; the probe then uses
// the full pattern.
func (ts *trigramSample) probeTerms(q string) []string {
	var s *trigram.Sample
	if ts != nil {
		s = &ts.Sample
	}
	return s.Choose(q, indexable)
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
var sqlProbeTerms = func() [trigram.MaxTerms]string {
	var out [trigram.MaxTerms]string
	for i := range out {
		out[i] = probeSQL(i + 1)
	}
	return out
}()
