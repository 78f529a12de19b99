package sqlstore_test

import (
	"errors"
	"testing"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// FuzzPageTokens feeds the listings' and search's token decoders any token
// a caller may send: they never panic, refuse with
// store.ErrInvalidArgument, and accept only a token the listing itself
// would issue for the position it decodes (of the peer asked for, for a
// listing of one peer's files).
func FuzzPageTokens(f *testing.F) {
	const tokens = pagetoken.Format('t')
	peers := []store.Peer{{}, {}}
	peers[0].Session.PeerName = "alice"
	_, peersNext := sqlstore.PeersPage(tokens, peers, 1)
	files := []store.PeerFile{{Peer: "alice", File: store.File{Name: "a.txt"}}, {Peer: "bob", File: store.File{Name: "b"}}}
	_, filesNext := sqlstore.FilesPage(tokens, "", files, 1)
	_, aliceNext := sqlstore.FilesPage(tokens, "alice", files, 1)
	search := tokens.EncodeID(pagetoken.Hash("search", "song", ""), 42)
	for _, seed := range []struct{ tok, peer, query string }{
		{"", "", ""},
		{peersNext, "", ""},
		{filesNext, "", ""},
		{aliceNext, "alice", ""},
		{aliceNext, "bob", ""},
		{search, "", "song"},
		{search, "", "SONG"},
		{peersNext + "A", "", ""},
		{"dGVzdA", "", ""},
		{"\x00\xff", "x", "\xff"},
	} {
		f.Add(seed.tok, seed.peer, seed.query)
	}
	invalid := func(t *testing.T, what string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, store.ErrInvalidArgument) {
			t.Fatalf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, tok, peer, query string) {
		last, ok, err := sqlstore.PeersAfter(tokens, tok)
		invalid(t, "PeersAfter", err)
		if ok {
			ps := []store.Peer{{}, {}}
			ps[0].Session.PeerName = last
			if _, again := sqlstore.PeersPage(tokens, ps, 1); again != tok {
				t.Fatalf("PeersAfter(%q) = %q, whose token is %q", tok, last, again)
			}
		}
		lastPeer, lastName, ok, err := sqlstore.FilesAfter(tokens, peer, tok)
		invalid(t, "FilesAfter", err)
		if ok {
			if peer != "" && lastPeer != peer {
				t.Fatalf("FilesAfter(%q, %q) continues peer %q's files", peer, tok, lastPeer)
			}
			fs := []store.PeerFile{{Peer: lastPeer, File: store.File{Name: lastName}}, {}}
			if _, again := sqlstore.FilesPage(tokens, peer, fs, 1); again != tok {
				t.Fatalf("FilesAfter(%q, %q) = %q %q, whose token is %q", peer, tok, lastPeer, lastName, again)
			}
		}
		_, bind, after, err := sqlstore.SearchStart(store.SearchQuery{Query: query, PageToken: tok}, tokens)
		invalid(t, "SearchStart", err)
		if err == nil && tok != "" && tokens.EncodeID(bind, after) != tok {
			t.Fatalf("SearchStart(%q) = %d, whose token is %q", tok, after, tokens.EncodeID(bind, after))
		}
	})
}
