package sqlite

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
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
	// many insertions as it held files when sampled.
	minResample = 5_000
	// maxTerms is the most trigrams a search ANDs: every term costs an
	// intersection step, which beyond a few costs more than checking the
	// extra candidates.
	maxTerms = 4
	// targetCandidates is the estimated candidate count, in rows, below
	// which adding a term no longer pays: checking a candidate costs a
	// few microseconds.
	targetCandidates = 200
)

// trigramSample estimates the share of indexed names containing a trigram.
type trigramSample struct {
	names  int              // names read
	files  int64            // files indexed when sampled
	counts map[string]int32 // trigram -> sampled names containing it
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

// match returns the FTS5 query for a lowered query of at least 3
// characters: an AND of up to maxTerms of its trigrams, chosen greedily to
// shrink the estimated candidate count fastest, until it drops below
// targetCandidates. Overlapping trigrams are
// correlated (sharing two characters, one nearly implies the other), so a
// term's selectivity counts only for the characters it adds to the ones
// already chosen.
func (ts *trigramSample) match(q string) string {
	tris, pos := trigrams(q)
	sel := make([]float64, len(tris))
	est := float64(1 << 40) // unknown size: every term helps
	for i, t := range tris {
		sel[i] = 1.0 / 64 // without a sample, all terms look alike
		if ts != nil && ts.names > 0 {
			sel[i] = (float64(ts.counts[t]) + 0.5) / float64(ts.names)
		}
	}
	if ts != nil && ts.names > 0 {
		est = float64(ts.files)
	}
	var chosen []int
	covered := make([]bool, len([]rune(q)))
	for len(chosen) < maxTerms && (len(chosen) == 0 || est > targetCandidates) {
		best, bestSel := -1, 1.0
		for i := range tris {
			if slices.Contains(chosen, i) {
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
		// Trigrams of one word are correlated even apart ("_co" and
		// "ct_" of "_contract_"): count only half (in log terms) of
		// each later term's selectivity.
		if len(chosen) > 0 {
			bestSel = math.Sqrt(bestSel)
		}
		chosen = append(chosen, best)
		est *= bestSel
		for c := pos[best]; c < pos[best]+3; c++ {
			covered[c] = true
		}
	}
	if len(chosen) == 0 {
		chosen = append(chosen, 0)
	}
	parts := make([]string, len(chosen))
	for i, c := range chosen {
		parts[i] = ftsPhrase(tris[c])
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
	ts := &trigramSample{files: files, counts: make(map[string]int32)}
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
			ts.names++
			tris, _ := trigrams(name)
			for _, t := range tris {
				ts.counts[t]++
			}
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
		threshold = max(threshold, ts.files)
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
