package downloader_test

import (
	"strings"
	"testing"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestResolvePrefersMostAccounts gives Resolve one SHA-256 announced with
// three descriptors, in the directory's order, and checks that it answers
// with the one the most accounts announce, the others as fallbacks, and
// takes the best-matching name of all.
func TestResolvePrefersMostAccounts(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("a", 64)
	desc := func(root string, accounts int32, peers ...string) *directoryv1.SearchResult {
		r := &directoryv1.SearchResult{
			Sha256: sha, Size: 10, PieceSize: 1 << 20, PieceRoot: strings.Repeat(root, 64),
			Names: []string{"film.mkv"}, AccountCount: accounts,
		}
		for _, p := range peers {
			r.Sources = append(r.Sources, &directoryv1.Source{Peer: p, Address: "http://" + p + ":1", Name: "film.mkv"})
		}
		return r
	}
	liar := desc("0", 1, "aaa-liar")
	liar.Names = []string{"x/film.mkv.part"}
	sybil := desc("1", 2, "aab-sybil-1", "aab-sybil-2")
	honest := desc("2", 3, "honest-1", "honest-2", "honest-3")
	other := &directoryv1.SearchResult{
		Sha256: strings.Repeat("b", 64), Size: 10, PieceSize: 1 << 20, PieceRoot: strings.Repeat("c", 64),
		Names: []string{"film.mkv.nfo"}, AccountCount: 1,
		Sources: []*directoryv1.Source{{Peer: "p", Address: "http://p:1", Name: "film.mkv.nfo"}},
	}
	dir := &fakeDirectory{results: []*directoryv1.SearchResult{liar, sybil, other, honest}}

	for _, query := range []string{"film.mkv", sha} {
		c, err := downloader.Resolve(t.Context(), dir, query)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", query, err)
		}
		if c.PieceRoot != honest.GetPieceRoot() || c.Accounts != 3 || len(c.Sources) != 3 {
			t.Errorf("Resolve(%q) chose root %.8s with %d accounts, want the honest one with 3", query, c.PieceRoot, c.Accounts)
		}
		if c.Name != "film.mkv" {
			t.Errorf("Resolve(%q) name %q, want film.mkv", query, c.Name)
		}
		if len(c.Others) != 2 || c.Others[0].PieceRoot != sybil.GetPieceRoot() || c.Others[1].PieceRoot != liar.GetPieceRoot() {
			t.Errorf("Resolve(%q) fallbacks %+v, want the 2-account then the 1-account descriptor", query, c.Others)
		}
	}
}
