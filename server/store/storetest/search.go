// The suite's tests of search: matching, grouping by content and paging.

package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

func testSearchMatching(t *testing.T, s store.Store) {
	f := map[string]store.File{}
	add := func(name, content string) store.File {
		fl := file(name, content)
		f[content] = fl
		return fl
	}
	loadPeers(t, s, map[string][]store.File{
		"alpha": {
			add("Music/Song One.mp3", "s1"), add("Canción.mp3", "cancion"), add("100%_done.txt", "pct"),
			add(`say "hi".txt`, "quote"), add("notes.md", "notes"), add("ÜBER.txt", "uber"),
		},
		"bravo": {
			add("song one (live).MP3", "s1live"), file("music/SONG ONE.mp3", "s1"), add("readme.txt", "readme"),
			add("a_b.txt", "ab"), add("xyz", "xyz"),
		},
		"charlie": {
			add("Photos/IMG_0001.jpg", "img1"), add("photos/img_0002.JPG", "img2"), add("canciones/otra.ogg", "otra"),
		},
	}, file("expired-only.txt", "expired"))

	cases := []struct {
		name, query, sha string
		want             []string // contents, see add
	}{
		{"words", "song one", "", []string{"s1", "s1live"}},
		{"upper query", "SONG ONE", "", []string{"s1", "s1live"}},
		{"word", "song", "", []string{"s1", "s1live"}},
		{"extension any case", ".mp3", "", []string{"s1", "s1live", "cancion"}},
		{"non-ASCII", "canción", "", []string{"cancion"}},
		{"non-ASCII upper", "CANCIÓN", "", []string{"cancion"}},
		{"non-ASCII suffix", "ción", "", []string{"cancion"}},
		{"accents are not folded", "cion", "", []string{"otra"}},
		{"non-ASCII upper name", "über", "", []string{"uber"}},
		{"non-ASCII upper name, upper query", "ÜBER", "", []string{"uber"}},
		{"no folding of Ü to U", "uber", "", nil},
		{"percent and underscore are literal", "%_d", "", []string{"pct"}},
		{"underscore is literal", "a_b", "", []string{"ab"}},
		{"quotes are literal", `"hi"`, "", []string{"quote"}},
		{"parentheses are literal", "(live)", "", []string{"s1live"}},
		{"star is literal", "song*", "", nil},
		{"directory part", "photos/", "", []string{"img1", "img2"}},
		{"mixed case names", "img_000", "", []string{"img1", "img2"}},
		{"whole name", "xyz", "", []string{"xyz"}},
		{"no match", "zzzz", "", nil},
		{"only at an expired peer", "expired", "", nil},
		{"short query", "mp", "", []string{"s1", "s1live", "cancion"}},
		{"one non-ASCII char", "ó", "", []string{"cancion"}},
		{"hash only", "", f["s1"].SHA256, []string{"s1"}},
		{"hash and matching name", "song", f["s1"].SHA256, []string{"s1"}},
		{"hash and other name", "live", f["s1"].SHA256, nil},
		{"hash only at an expired peer", "", hashOf("expired"), nil},
		{"unknown hash", "", hashOf("nothing"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var want []string
			for _, content := range c.want {
				want = append(want, f[content].SHA256)
			}
			for _, size := range []int{1, 100} {
				rs := searchAll(t, s, store.SearchQuery{Query: c.query, SHA256: c.sha}, size, searchNow)
				same(t, fmt.Sprintf("page size %d", size), sortedCopy(hashes(rs)), sortedCopy(want))
				for _, r := range rs {
					for _, src := range r.Sources {
						if src.Peer == "expired-peer" {
							t.Fatalf("expired peer listed: %s", show(r))
						}
					}
				}
			}
		})
	}
}

func testSearchGrouping(t *testing.T, s store.Store) {
	ctx := t.Context()
	x1, x2, x3 := file("Song.mp3", "X"), file("Song.mp3", "X"), file("music/Song.mp3", "X")
	y1, y2, y3 := file("b-copy.flac", "Y"), file("a-orig.flac", "Y"), file("track.flac", "Y")
	loadPeers(t, s, map[string][]store.File{
		"zulu":  {x3},
		"mike":  {y3, x2},
		"alpha": {y1, x1, y2},
	})
	// A heartbeat shows in the sources' LastSeen.
	mikeSeen := at(90 * time.Second)
	if _, err := s.TouchSession(ctx, "sess-mike", mikeSeen, at(time.Hour)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	src := func(peer, name string) store.Source {
		seen := t0
		if peer == "mike" {
			seen = mikeSeen
		}
		return store.Source{Peer: peer, Username: "user", Address: "https://" + peer + ".example:7443", Name: name, LastSeen: seen}
	}
	resultX := store.SearchResult{
		SHA256: x1.SHA256, Size: x1.Size, PieceSize: x1.PieceSize, PieceRoot: x1.PieceRoot,
		Names:        []string{"Song.mp3", "music/Song.mp3"},
		Sources:      []store.Source{src("alpha", "Song.mp3"), src("mike", "Song.mp3"), src("zulu", "music/Song.mp3")},
		AccountCount: 1, // loadPeers gives every peer the same account
	}
	resultY := store.SearchResult{
		SHA256: y1.SHA256, Size: y1.Size, PieceSize: y1.PieceSize, PieceRoot: y1.PieceRoot,
		Names:        []string{"a-orig.flac", "b-copy.flac", "track.flac"},
		Sources:      []store.Source{src("alpha", "a-orig.flac"), src("alpha", "b-copy.flac"), src("mike", "track.flac")},
		AccountCount: 1,
	}
	cases := []struct {
		name  string
		query store.SearchQuery
		want  []store.SearchResult
	}{
		{"three peers, one result", store.SearchQuery{Query: "song"}, []store.SearchResult{resultX}},
		{"by hash", store.SearchQuery{SHA256: x1.SHA256}, []store.SearchResult{resultX}},
		{"sources include names that did not match", store.SearchQuery{Query: "orig"}, []store.SearchResult{resultY}},
		{"by hash and name", store.SearchQuery{Query: "TRACK", SHA256: y1.SHA256}, []store.SearchResult{resultY}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			same(t, "results", searchAll(t, s, c.query, 10, searchNow), c.want)
		})
	}
	t.Run("both contents", func(t *testing.T) {
		t.Parallel()
		rs := searchAll(t, s, store.SearchQuery{Query: "."}, 10, searchNow)
		slices.SortFunc(rs, func(a, b store.SearchResult) int { return strings.Compare(a.SHA256, b.SHA256) })
		want := []store.SearchResult{resultX, resultY}
		slices.SortFunc(want, func(a, b store.SearchResult) int { return strings.Compare(a.SHA256, b.SHA256) })
		same(t, "results", rs, want)
	})
}

func testSearchPaging(t *testing.T, s store.Store) {
	const contents = 25
	peers := map[string][]store.File{}
	var items []string
	for i := range contents {
		content := fmt.Sprintf("item-%02d", i)
		f := file(fmt.Sprintf("Item %02d.bin", i), content)
		items = append(items, f.SHA256)
		p := fmt.Sprintf("p%d", i%5)
		// Prepend so that insertion order differs from name order.
		peers[p] = append([]store.File{f}, peers[p]...)
		if i%3 == 0 {
			q := fmt.Sprintf("p%d", (i+2)%5)
			peers[q] = append(peers[q], file(fmt.Sprintf("copy of item %02d.bin", i), content))
		}
	}
	all := slices.Clone(items)
	for i := range 6 {
		f := file(fmt.Sprintf("noise-%d.dat", i), fmt.Sprintf("noise-%d", i))
		peers["p1"] = append(peers["p1"], f)
		all = append(all, f.SHA256)
	}
	loadPeers(t, s, peers, file("item-zz.bin", "expired item"))

	cases := []struct {
		name  string
		query store.SearchQuery
		want  []string
	}{
		{"by name", store.SearchQuery{Query: "item"}, items},
		{"any name", store.SearchQuery{}, all},
		{"by hash", store.SearchQuery{SHA256: items[3]}, items[3:4]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// One big page is the reference order; every page size must
			// walk the same results in the same order, each exactly once.
			ref := hashes(searchAll(t, s, c.query, 1000, searchNow))
			same(t, "results", sortedCopy(ref), sortedCopy(c.want))
			for _, size := range []int{1, 2, 7} {
				t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
					t.Parallel()
					got := hashes(searchAll(t, s, c.query, size, searchNow))
					same(t, "order", got, ref)
				})
			}
		})
	}
}
