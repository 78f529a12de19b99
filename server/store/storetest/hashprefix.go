// The suite's test of search by a prefix of the content hash.

package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/server/store"
)

// withHash returns file(name, content) with the given hash instead of the
// content's: contents whose hashes share a prefix, and hashes at the edges
// of a prefix's range, by construction.
func withHash(name, content, sha string) store.File {
	f := file(name, content)
	f.SHA256 = sha
	return f
}

func testSearchHashPrefix(t *testing.T, s store.Store) {
	const p = "abcdef01" // the prefix most cases look for
	hash := map[string]string{
		"a":     p + hashOf("a")[8:],
		"b":     p + hashOf("b")[8:],
		"first": p + strings.Repeat("0", 56), // the lowest hash with the prefix
		"last":  p + strings.Repeat("f", 56), // the highest
		"below": "abcdef00" + strings.Repeat("f", 56),
		"above": "abcdef02" + strings.Repeat("0", 56),
		"other": hashOf("other"),
		"gone":  p + hashOf("gone")[8:], // only at the expired peer
	}
	files := map[string][]store.File{
		"alpha": {
			withHash("a.txt", "a", hash["a"]), withHash("b.txt", "b", hash["b"]),
			withHash("first.bin", "first", hash["first"]), withHash("below.bin", "below", hash["below"]),
		},
		"bravo": {
			withHash("copy of a.txt", "a", hash["a"]), withHash("last.bin", "last", hash["last"]),
			withHash("above.bin", "above", hash["above"]), withHash("other.bin", "other", hash["other"]),
		},
	}
	loadPeers(t, s, files, withHash("gone.bin", "gone", hash["gone"]))

	cases := []struct {
		name  string
		query store.SearchQuery
		want  []string // keys of hash
	}{
		{"eight digits", store.SearchQuery{SHA256Prefix: p}, []string{"a", "b", "first", "last"}},
		{"longer", store.SearchQuery{SHA256Prefix: hash["a"][:20]}, []string{"a"}},
		{"a whole hash", store.SearchQuery{SHA256Prefix: hash["b"]}, []string{"b"}},
		{"the lowest hash of the range", store.SearchQuery{SHA256Prefix: hash["first"]}, []string{"first"}},
		{"the highest hash of the range", store.SearchQuery{SHA256Prefix: hash["last"]}, []string{"last"}},
		{"odd length", store.SearchQuery{SHA256Prefix: "abcdef0"}, []string{"a", "b", "first", "last", "below", "above"}},
		{"odd length ending in f", store.SearchQuery{SHA256Prefix: p + "f"}, []string{"last"}},
		{"with a name", store.SearchQuery{SHA256Prefix: p, Query: "a.txt"}, []string{"a"}},
		{"with a name of another hash", store.SearchQuery{SHA256Prefix: p, Query: "other"}, nil},
		{"only at an expired peer", store.SearchQuery{SHA256Prefix: hash["gone"][:12]}, nil},
		{"no match", store.SearchQuery{SHA256Prefix: "0123456789"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var want []string
			for _, k := range c.want {
				want = append(want, hash[k])
			}
			ref := hashes(searchAll(t, s, c.query, 100, searchNow))
			same(t, "results", sortedCopy(ref), sortedCopy(want))
			// Every page size walks the same results in the same order.
			for _, size := range []int{1, 3} {
				same(t, fmt.Sprint("order at page size ", size), hashes(searchAll(t, s, c.query, size, searchNow)), ref)
			}
		})
	}

	t.Run("grouped by content", func(t *testing.T) {
		t.Parallel()
		rs := searchAll(t, s, store.SearchQuery{SHA256Prefix: hash["a"][:16]}, 10, searchNow)
		if len(rs) != 1 || len(rs[0].Sources) != 2 || strings.Join(rs[0].Names, ",") != "a.txt,copy of a.txt" {
			t.Fatalf("results %s, want content a with both sources", show(rs))
		}
	})
	t.Run("a token of another prefix", func(t *testing.T) {
		t.Parallel()
		_, next, err := s.Search(t.Context(), store.SearchQuery{SHA256Prefix: p, PageSize: 1}, searchNow)
		if err != nil || next == "" {
			t.Fatalf("first page: token %q, %v", next, err)
		}
		_, _, err = s.Search(t.Context(), store.SearchQuery{SHA256Prefix: "abcdef", PageSize: 1, PageToken: next}, searchNow)
		wantErr(t, "token of another prefix", err, store.ErrInvalidArgument)
	})
}
