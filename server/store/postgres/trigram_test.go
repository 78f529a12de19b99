package postgres

import (
	"github.com/peerhub/peerhub/server/store/trigram"
	"slices"
	"testing"
)

// TestProbeTerms checks which trigrams a query probes the index with: only
// indexable ones, the rarest first, at most trigram.MaxTerms, none when the query
// has no indexable trigram (the probe then uses the full pattern).
func TestProbeTerms(t *testing.T) {
	ts := &trigramSample{Sample: trigram.Sample{Names: 1000, Files: 1e6, Counts: map[string]int32{
		"rep": 400, "epo": 400, "por": 400, "ort": 400, "zyx": 0, "200": 300, "003": 50,
	}}}
	if got := ts.probeTerms("a.b_c%d"); len(got) != 0 {
		t.Errorf("probeTerms(no indexable trigram) = %q, want none", got)
	}
	got := ts.probeTerms("report zyx 2003")
	if len(got) == 0 || got[0] != "zyx" {
		t.Errorf("probeTerms = %q, want the rarest trigram first", got)
	}
	if len(got) > trigram.MaxTerms {
		t.Errorf("probeTerms = %q, want at most %d terms", got, trigram.MaxTerms)
	}
	for _, term := range got {
		if !indexable(term) {
			t.Errorf("probeTerms = %q: %q is not indexable", got, term)
		}
	}
	if got := (*trigramSample)(nil).probeTerms("abc"); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("probeTerms without a sample = %q, want [abc]", got)
	}
}
