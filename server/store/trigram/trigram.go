// Package trigram owns how the stores narrow a substring search with a
// trigram index: which few trigrams of a query the index should intersect,
// judged by how often each occurs in a sample of stored names. Each store
// keeps its own index and its own way of sampling; the choice is the same,
// and it only steers speed, never results (the full query is always checked
// on the candidates).
package trigram

import (
	"math"
	"slices"
)

const (
	// Len is the length of a trigram, in characters: the shortest query
	// a trigram index can answer.
	Len = 3
	// MaxTerms is the most trigrams a search ANDs: every term costs an
	// intersection step (a posting list to read), which beyond a few costs
	// more than checking the extra candidates.
	MaxTerms = 4
	// TargetCandidates is the estimated candidate count, in rows, below
	// which adding a term no longer pays: checking a candidate costs a few
	// microseconds.
	TargetCandidates = 200
)

// Sample estimates the share of stored names containing a trigram.
type Sample struct {
	// Names is how many names were read.
	Names int
	// Files is how many files the index held when sampled.
	Files float64
	// Counts maps a trigram to how many sampled names contain it.
	Counts map[string]int32
}

// Add counts the trigrams of one sampled name.
func (s *Sample) Add(name string) {
	if s.Counts == nil {
		s.Counts = make(map[string]int32)
	}
	s.Names++
	tris, _ := Split(name)
	for _, t := range tris {
		s.Counts[t]++
	}
}

// All returns every trigram of s (by characters), in order, repeats
// included: the i-th is the one starting at the i-th character. They are
// substrings of s, so nothing is copied.
func All(s string) []string {
	var start []int // byte offsets of the characters, then len(s)
	for i := range s {
		start = append(start, i)
	}
	start = append(start, len(s))
	var out []string
	for i := 0; i+Len < len(start); i++ {
		out = append(out, s[start[i]:start[i+Len]])
	}
	return out
}

// Split returns the distinct trigrams of s (by characters) with the
// position of their first occurrence.
func Split(s string) (tris []string, pos []int) {
	all := All(s)
	seen := make(map[string]bool, len(all))
	for i, t := range all {
		if !seen[t] {
			seen[t] = true
			tris, pos = append(tris, t), append(pos, i)
		}
	}
	return tris, pos
}

// Choose returns the trigrams of a lowered query whose AND the index should
// be asked for: up to MaxTerms of those that eligible accepts (all when
// eligible is nil), chosen greedily to shrink the estimated candidate count
// fastest, until it drops below TargetCandidates. Overlapping trigrams are
// correlated (sharing two characters, one nearly implies the other), so a
// term's selectivity counts only for the characters it adds to the ones
// already chosen. A nil or empty sample makes every trigram look alike. It
// returns none when no trigram is eligible or none narrows the search.
func (s *Sample) Choose(q string, eligible func(string) bool) []string {
	tris, pos := Split(q)
	sel := make([]float64, len(tris))
	est := float64(1 << 40) // unknown size: every term helps
	sampled := s != nil && s.Names > 0
	for i, t := range tris {
		sel[i] = 1.0 / 64 // without a sample, all terms look alike
		if sampled {
			sel[i] = (float64(s.Counts[t]) + 0.5) / float64(s.Names)
		}
	}
	if sampled && s.Files > 0 {
		est = s.Files
	}
	var chosen []int
	covered := make([]bool, len([]rune(q)))
	for len(chosen) < MaxTerms && (len(chosen) == 0 || est > TargetCandidates) {
		best, bestSel := -1, 1.0
		for i, t := range tris {
			if slices.Contains(chosen, i) || (eligible != nil && !eligible(t)) {
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
		// "ct_" of "_contract_"): count only half (in log terms) of each
		// later term's selectivity.
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
