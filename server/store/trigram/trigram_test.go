package trigram

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	tris, pos := Split("abcabcé")
	if !slices.Equal(tris, []string{"abc", "bca", "cab", "bcé"}) || !slices.Equal(pos, []int{0, 1, 2, 4}) {
		t.Fatalf("Split = %q %v", tris, pos)
	}
	if tris, _ := Split("ab"); len(tris) != 0 {
		t.Fatalf("Split(ab) = %q, want none", tris)
	}
}

func TestAll(t *testing.T) {
	t.Parallel()
	if got := All("abcabé日"); !slices.Equal(got, []string{"abc", "bca", "cab", "abé", "bé日"}) {
		t.Fatalf("All = %q", got)
	}
	if got := All("aé"); len(got) != 0 {
		t.Fatalf("All(aé) = %q, want none", got)
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	s := Sample{Names: 1000, Files: 1_000_000, Counts: map[string]int32{
		"abc": 900, "bcd": 900, "cde": 900, "def": 10, "efg": 900, "fgh": 900, "ghi": 900,
	}}
	tests := []struct {
		name     string
		sample   *Sample
		query    string
		eligible func(string) bool
		first    string // the first term, if set
		has      string // a term that must be chosen, if set
		terms    int    // how many terms, 0 for any
	}{
		{name: "rarest first", sample: &s, query: "abcdefghi", first: "def"},
		{name: "three characters", sample: &s, query: "abc", first: "abc", terms: 1},
		{name: "unknown trigram is rare", sample: &s, query: "abcxyz", has: "xyz"},
		{name: "no sample spreads terms", sample: nil, query: "abcdefghijklmnop", terms: MaxTerms},
		{name: "eligible filters", sample: &s, query: "abcdef", eligible: func(t string) bool { return t != "def" }, first: "abc"},
		{name: "nothing eligible", sample: &s, query: "abcdef", eligible: func(string) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.sample.Choose(tt.query, tt.eligible)
			if len(got) > MaxTerms {
				t.Fatalf("Choose = %q: more than %d terms", got, MaxTerms)
			}
			if tt.terms != 0 && len(got) != tt.terms {
				t.Fatalf("Choose = %q: %d terms, want %d", got, len(got), tt.terms)
			}
			if tt.first != "" && (len(got) == 0 || got[0] != tt.first) {
				t.Fatalf("Choose = %q, want %q first", got, tt.first)
			}
			if tt.has != "" && !slices.Contains(got, tt.has) {
				t.Fatalf("Choose = %q, lacks %q", got, tt.has)
			}
			if tt.first == "" && tt.has == "" && tt.terms == 0 && len(got) != 0 {
				t.Fatalf("Choose = %q, want none", got)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	t.Parallel()
	var s Sample
	s.Add("abcabc")
	s.Add("xabc")
	if s.Names != 2 || s.Counts["abc"] != 2 || s.Counts["bca"] != 1 || s.Counts["xab"] != 1 {
		t.Fatalf("Add: %+v", s)
	}
}
