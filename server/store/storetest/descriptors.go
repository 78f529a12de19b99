// The suite's tests of content identity: search groups sources by the whole
// descriptor (sha256, size, piece size, piece root), so a peer that lies
// about a content forms its own result.

package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// testSearchDescriptors publishes one content from honest peers of two
// accounts, then lets liars publish the same sha256 with a made-up piece
// root, another size or another piece size, under peer names that sort
// first. Each lie must form a result of its own, and the honest result must
// stay exactly what it was before the liars came.
func testSearchDescriptors(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, a := range []string{"alice", "bob", "mallory"} {
		mustAccount(t, s, a)
	}
	honest := file("Movie.mkv", "movie")
	// Two peers of alice and one of bob: three sources, two accounts.
	for _, p := range []struct{ id, user, peer string }{
		{"sess-h1", "alice", "honest-1"}, {"sess-h2", "alice", "honest-2"}, {"sess-h3", "bob", "honest-3"},
	} {
		mustSession(t, s, peerSession(p.id, p.user, p.peer, at(time.Hour)))
		mustReplace(t, s, p.id, honest)
	}
	before := searchAll(t, s, store.SearchQuery{SHA256: honest.SHA256}, 10, searchNow)
	if len(before) != 1 || before[0].AccountCount != 2 || len(before[0].Sources) != 3 || before[0].PieceRoot != honest.PieceRoot {
		t.Fatalf("honest result %s, want one result with 3 sources of 2 accounts", show(before))
	}

	fakeRoot := honest
	fakeRoot.PieceRoot = hashOf("made up")
	fakeRoot.Name = "Movie (fake root).mkv"
	fakeSize := honest
	fakeSize.Size++
	fakeSize.Name = "Movie (fake size).mkv"
	fakePiece := honest
	fakePiece.PieceSize *= 2
	fakePiece.Name = "Movie (fake piece size).mkv"
	// The liars log in after the honest peers but sort first by name;
	// one of them publishes the honest descriptor besides a lie.
	mustSession(t, s, peerSession("sess-l1", "mallory", "aaa-liar", at(time.Hour)))
	mustReplace(t, s, "sess-l1", fakeRoot, fakeSize)
	mustSession(t, s, peerSession("sess-l2", "mallory", "aab-liar", at(time.Hour)))
	mustReplace(t, s, "sess-l2", fakePiece)
	mustSession(t, s, peerSession("sess-l3", "mallory", "aac-liar", at(time.Hour)))
	mustReplace(t, s, "sess-l3", fakeRoot)

	liarSrc := func(peer, name string) store.Source {
		return store.Source{Peer: peer, Username: "mallory", Address: "https://" + peer + ".example:7443", Name: name, LastSeen: t0}
	}
	wantHonest := before[0]
	wantLies := map[string]store.SearchResult{
		fakeRoot.Name: {
			SHA256: honest.SHA256, Size: honest.Size, PieceSize: honest.PieceSize, PieceRoot: fakeRoot.PieceRoot,
			Names:        []string{fakeRoot.Name},
			Sources:      []store.Source{liarSrc("aaa-liar", fakeRoot.Name), liarSrc("aac-liar", fakeRoot.Name)},
			AccountCount: 1,
		},
		fakeSize.Name: {
			SHA256: honest.SHA256, Size: fakeSize.Size, PieceSize: honest.PieceSize, PieceRoot: honest.PieceRoot,
			Names: []string{fakeSize.Name}, Sources: []store.Source{liarSrc("aaa-liar", fakeSize.Name)}, AccountCount: 1,
		},
		fakePiece.Name: {
			SHA256: honest.SHA256, Size: honest.Size, PieceSize: fakePiece.PieceSize, PieceRoot: honest.PieceRoot,
			Names: []string{fakePiece.Name}, Sources: []store.Source{liarSrc("aab-liar", fakePiece.Name)}, AccountCount: 1,
		},
	}
	for _, q := range []store.SearchQuery{{SHA256: honest.SHA256}, {Query: "movie"}, {}} {
		t.Run(fmt.Sprintf("query %q sha %.8s", q.Query, q.SHA256), func(t *testing.T) {
			for _, size := range []int{1, 2, 10} {
				rs := searchAll(t, s, q, size, searchNow)
				if len(rs) != 4 {
					t.Fatalf("page size %d: %d results, want 4 (the honest one and three lies): %s", size, len(rs), show(rs))
				}
				// The honest result is the first: its first row is the
				// oldest.
				same(t, "honest result", rs[0], wantHonest)
				for _, r := range rs[1:] {
					same(t, "lie", r, wantLies[r.Names[0]])
				}
			}
		})
	}

	// Honest peers that publish later join the honest result; a liar
	// that also publishes the honest descriptor is one more source of it.
	mustReplace(t, s, "sess-l3", fakeRoot, func() store.File { f := honest; f.Name = "copy.mkv"; return f }())
	rs := searchAll(t, s, store.SearchQuery{SHA256: honest.SHA256}, 10, searchNow)
	if len(rs) != 4 || rs[0].PieceRoot != honest.PieceRoot || rs[0].AccountCount != 3 || len(rs[0].Sources) != 4 {
		t.Fatalf("after a liar published the honest descriptor too: %s", show(rs))
	}

	// Once the liars are gone, one result is left, as before.
	for _, id := range []string{"sess-l1", "sess-l2", "sess-l3"} {
		if err := s.DeleteSession(ctx, id, searchNow); err != nil {
			t.Fatal(err)
		}
	}
	same(t, "after the liars left", searchAll(t, s, store.SearchQuery{SHA256: honest.SHA256}, 10, searchNow), before)
}

// testSearchDescriptorPaging pages through many contents that each come
// with several descriptors of one sha256: every page size must walk the
// same results in the same order, each descriptor exactly once.
func testSearchDescriptorPaging(t *testing.T, s store.Store) {
	mustAccount(t, s, "user")
	mustAccount(t, s, "other")
	peers := map[string][]store.File{}
	type key struct {
		sha, root string
		size      int64
	}
	var want []key
	for i := range 12 {
		f := file(fmt.Sprintf("doc %02d.pdf", i), fmt.Sprintf("doc-%02d", i))
		want = append(want, key{f.SHA256, f.PieceRoot, f.Size})
		peers[fmt.Sprintf("p%d", i%3)] = append(peers[fmt.Sprintf("p%d", i%3)], f)
		for k := range i % 3 {
			lie := f
			lie.Name = fmt.Sprintf("doc %02d lie %d.pdf", i, k)
			lie.PieceRoot = hashOf(fmt.Sprintf("lie %d of %d", k, i))
			want = append(want, key{lie.SHA256, lie.PieceRoot, lie.Size})
			q := fmt.Sprintf("q%d", (i+k)%2)
			peers[q] = append(peers[q], lie)
		}
	}
	for peer, files := range peers {
		user := "user"
		if strings.HasPrefix(peer, "q") {
			user = "other"
		}
		mustSession(t, s, peerSession("sess-"+peer, user, peer, at(time.Hour)))
		mustReplace(t, s, "sess-"+peer, files...)
	}
	keys := func(rs []store.SearchResult) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%s/%d", r.SHA256, r.PieceRoot, r.Size))
		}
		return out
	}
	var wantKeys []string
	for _, k := range want {
		wantKeys = append(wantKeys, fmt.Sprintf("%s/%s/%d", k.sha, k.root, k.size))
	}
	slices.Sort(wantKeys)
	for _, q := range []store.SearchQuery{{Query: "doc"}, {}, {SHA256: want[len(want)-1].sha}} {
		t.Run(fmt.Sprintf("query %q sha %.8s", q.Query, q.SHA256), func(t *testing.T) {
			t.Parallel()
			ref := keys(searchAll(t, s, q, 1000, searchNow))
			if q.SHA256 == "" {
				same(t, "results", sortedCopy(ref), wantKeys)
			} else if len(ref) != 3 {
				t.Fatalf("by hash: %d results, want 3 descriptors", len(ref))
			}
			for _, size := range []int{1, 2, 5} {
				same(t, fmt.Sprint("page size ", size), keys(searchAll(t, s, q, size, searchNow)), ref)
			}
		})
	}
}
