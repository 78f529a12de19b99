// The suite's tests of the listings of live peers and files, their page
// tokens, and the stats.

package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

func testListPeers(t *testing.T, s store.Store) {
	loadPeers(t, s, map[string][]store.File{
		"charlie": {file("c1", "c1"), file("c2", "c2")},
		"alpha":   nil,
		"bravo":   {file("b1", "b1")},
		"Zed":     {file("c1", "c1")}, // bytewise order: upper case first
	})
	want := []string{"Zed=1", "alpha=0", "bravo=1", "charlie=2"}
	for _, size := range []int{1, 2, 3, 10} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			t.Parallel()
			ps := listPeers(t, s, size, searchNow)
			same(t, "peers", peerNames(ps), want)
			same(t, "session", ps[1].Session, normSession(peerSession("sess-alpha", "user", "alpha", at(time.Hour))))
		})
	}
}

func testListFiles(t *testing.T, s store.Store) {
	x := file("x", "x")
	loadPeers(t, s, map[string][]store.File{
		"b-peer": {file("z.txt", "z"), file("B.txt", "B"), file("a.txt", "a"), file("a/b.txt", "ab"), file("ä.txt", "ä"), file("a b.txt", "a b")},
		"a-peer": {x},
		"c-peer": nil,
	})
	bFiles := []string{"b-peer:B.txt", "b-peer:a b.txt", "b-peer:a.txt", "b-peer:a/b.txt", "b-peer:z.txt", "b-peer:ä.txt"}
	cases := []struct {
		name, peer string
		want       []string
	}{
		{"all peers", "", append([]string{"a-peer:x"}, bFiles...)},
		{"one peer", "b-peer", bFiles},
		{"peer without files", "c-peer", nil},
		{"unknown peer", "nobody", nil},
		{"expired peer", "expired-peer", nil},
	}
	for _, c := range cases {
		for _, size := range []int{1, 2, 3, 100} {
			t.Run(fmt.Sprintf("%s size %d", c.name, size), func(t *testing.T) {
				t.Parallel()
				fs := listFiles(t, s, c.peer, size, searchNow)
				got := fileKeys(fs)
				if len(got) == 0 {
					got = nil
				}
				same(t, "files", got, c.want)
				if c.peer == "" {
					same(t, "first", fs[0], store.PeerFile{Peer: "a-peer", Address: "https://a-peer.example:7443", File: normFile(x)})
				}
			})
		}
	}
}

func testStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	same(t, "empty", mustStats(t, s, t0), store.Stats{})
	loadPeers(t, s, map[string][]store.File{
		"a": {file("1", "1"), file("2", "2")},
		"b": {file("1", "1")},
		"c": nil,
	})
	same(t, "before expiry", mustStats(t, s, t0), store.Stats{OnlinePeers: 4, IndexedFiles: 5})
	same(t, "after expiry", mustStats(t, s, searchNow), store.Stats{OnlinePeers: 3, IndexedFiles: 3})
	if _, err := s.ApplyDelta(ctx, "sess-c", []store.File{file("3", "3")}, []string{"x"}, peerLimit(10), searchNow); err != nil {
		t.Fatalf("ApplyDelta: %v", err)
	}
	same(t, "after delta", mustStats(t, s, searchNow), store.Stats{OnlinePeers: 3, IndexedFiles: 4})
	wantErr(t, "DeleteSession", s.DeleteSession(ctx, "sess-a", t0), nil)
	same(t, "after delete", mustStats(t, s, searchNow), store.Stats{OnlinePeers: 2, IndexedFiles: 2})
	same(t, "all expired", mustStats(t, s, at(time.Hour)), store.Stats{})
}

func testBadPageTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	loadPeers(t, s, map[string][]store.File{"a": {file("one.txt", "1"), file("two.txt", "2")}})
	tokens := []string{
		"garbage",
		"!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"aGVsbG8gd29ybGQ",  // "hello world", unpadded base64
		"aGVsbG8gd29ybGQ=", // padded
		"////////////////////",
	}
	for _, tok := range tokens {
		t.Run(tok, func(t *testing.T) {
			t.Parallel()
			_, _, err := s.Search(ctx, store.SearchQuery{Query: "txt", PageSize: 1, PageToken: tok}, searchNow)
			wantErr(t, "Search", err, store.ErrInvalidArgument)
			_, _, err = s.Search(ctx, store.SearchQuery{SHA256: hashOf("1"), PageSize: 1, PageToken: tok}, searchNow)
			wantErr(t, "Search by hash", err, store.ErrInvalidArgument)
			_, _, err = s.ListPeers(ctx, store.Page{Size: 1, Token: tok}, searchNow)
			wantErr(t, "ListPeers", err, store.ErrInvalidArgument)
			_, _, err = s.ListFiles(ctx, "", store.Page{Size: 1, Token: tok}, searchNow)
			wantErr(t, "ListFiles", err, store.ErrInvalidArgument)
			_, _, err = s.ListFiles(ctx, "a", store.Page{Size: 1, Token: tok}, searchNow)
			wantErr(t, "ListFiles of a peer", err, store.ErrInvalidArgument)
		})
	}
}
