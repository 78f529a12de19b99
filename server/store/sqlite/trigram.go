package sqlite

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"

	"github.com/peerhub/peerhub/server/store/trigram"
)

// Query planning for name search.
//
// FTS5 answers a trigram phrase by intersecting the doclists of every
// trigram in it, so a long query made of common trigrams ("_contract_2003.pdf")
// costs tens of milliseconds at a million names even when one name matches.
// Instead, Search asks FTS5 for the AND of a few of the query's rarest
// trigrams and checks each candidate with instr() on the lowered name, which
// is exact. Rarity comes from a sample of indexed names kept in memory; it
// only steers speed, never results.

const (
	// sampleNames is how many names, at most, the trigram sample reads.
	sampleNames = 20_000
	// minResample is how many file insertions, at least, trigger a new
	// sample; past that, a sample is refreshed once the index has had as
	// many insertions as it held files when sampled. Small, so that a
	// directory whose index started empty (its sample at open has no
	// names, and every trigram looks alike) learns which trigrams are rare
	// after its first few hundred files: with no sample, a search ANDs
	// MaxTerms trigrams, common ones included, and costs 2–3 times as much
	// (10 000 names, one match). Resampling reads at most sampleNames
	// names, and the doubling rule keeps it rare as the index grows.
	minResample = 256
)

// match returns the FTS5 query for a lowered query of at least 3
// characters: the AND of the trigrams trigram.Sample.Choose picks, or of the
// first trigram when none narrows the search.
func match(ts *trigram.Sample, q string) string {
	terms := ts.Choose(q, nil)
	if len(terms) == 0 {
		tris, _ := trigram.Split(q)
		terms = tris[:1]
	}
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = ftsPhrase(t)
	}
	return strings.Join(parts, " AND ")
}

// resample reads a random sample of indexed names and installs its trigram
// counts. It runs at open and, in the background, after enough insertions.
func (s *Store) resample(ctx context.Context) error {
	var maxID, files int64
	err := s.r.QueryRowContext(ctx,
		`SELECT coalesce((SELECT max(id) FROM files), 0), coalesce((SELECT sum(file_count) FROM sessions), 0)`).
		Scan(&maxID, &files)
	if err != nil {
		return err
	}
	ts := &trigram.Sample{Files: float64(files), Counts: make(map[string]int32)}
	if maxID > 0 {
		ids := make([]int64, min(sampleNames, maxID))
		for i := range ids {
			ids[i] = 1 + rand.Int64N(maxID)
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		rows, err := s.r.QueryContext(ctx, `SELECT name_lower FROM files WHERE id IN (SELECT value FROM json_each(?1))`, string(list))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			ts.Add(name)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	s.sample.Store(ts)
	s.insertedSinceSample.Store(0)
	return nil
}

// noteInserted counts n new index rows and starts a background resample
// once the index has changed enough since the last one.
func (s *Store) noteInserted(n int) {
	if n == 0 {
		return
	}
	since := s.insertedSinceSample.Add(int64(n))
	ts := s.sample.Load()
	threshold := int64(minResample)
	if ts != nil {
		threshold = max(threshold, int64(ts.Files))
	}
	if since < threshold || !s.sampling.CompareAndSwap(false, true) {
		return
	}
	s.bg.Go(func() {
		defer s.sampling.Store(false)
		// A failed sample keeps the old one: it only steers speed.
		_ = s.resample(s.bgCtx)
	})
}
