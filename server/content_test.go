package server_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
)

// TestSearchSeparatesDescriptors checks that Search groups sources by the
// whole descriptor: a peer of another account that announces a real sha256
// with a made-up piece root, under a name that sorts first, gets a result of
// its own, and the honest result keeps its piece root and its count of
// accounts.
func TestSearchSeparatesDescriptors(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.addUser("carol", "carol-secret")
	honest := entry("film.mkv", "film")
	a1 := e.login(alice, alicePW, "http://127.0.0.1:9001", "alice-1").GetToken()
	a2 := e.login(alice, alicePW, "http://127.0.0.1:9002", "alice-2").GetToken()
	c := e.login("carol", "carol-secret", "http://127.0.0.1:9003", "carol").GetToken()
	for _, tok := range []string{a1, a2, c} {
		e.publish(tok, snapshot(honest))
	}
	lie := entry("film.mkv", "film")
	lie.PieceRoot = hexOf("made up")
	liar := e.login(bob, bobPW, "http://127.0.0.1:9004", "aaa-bob").GetToken()
	e.publish(liar, snapshot(lie))

	res, err := e.connectClient(a1).Search(context.Background(), connect.NewRequest(&directoryv1.SearchRequest{Sha256: honest.GetSha256()}))
	if err != nil {
		t.Fatal(err)
	}
	rs := res.Msg.GetResults()
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2 (the honest descriptor and the lie): %v", len(rs), rs)
	}
	byRoot := map[string]*directoryv1.SearchResult{}
	for _, r := range rs {
		byRoot[r.GetPieceRoot()] = r
	}
	h, l := byRoot[honest.GetPieceRoot()], byRoot[lie.GetPieceRoot()]
	if h == nil || l == nil {
		t.Fatalf("results %v, want one per piece root", rs)
	}
	if h.GetAccountCount() != 2 || len(h.GetSources()) != 3 {
		t.Errorf("honest result: %d accounts, %d sources; want 2 accounts, 3 sources", h.GetAccountCount(), len(h.GetSources()))
	}
	if l.GetAccountCount() != 1 || len(l.GetSources()) != 1 || l.GetSources()[0].GetPeer() != "aaa-bob" {
		t.Errorf("lying result: %d accounts, sources %v; want bob's peer alone", l.GetAccountCount(), l.GetSources())
	}
}

// TestPublishRefusesUnportableNames checks the portable-name rules at the
// directory, both the protocol's (InvalidArgument before the handler) and
// NFC, which only sharepath checks; and that a query typed in another
// normalisation form finds the NFC name.
func TestPublishRefusesUnportableNames(t *testing.T) {
	t.Parallel()
	e := start(t)
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "").GetToken()
	e.publish(peer, snapshot(entry("café/menu.txt", "menu")))
	before := e.index(peer)
	for _, name := range []string{
		`..\..\x`, `dir\file.txt`, "C:x", "C:/Windows/win.ini", "file.txt:stream",
		"evil\u202egnp.exe", "a\u2066b", "a\u200fb", "a\u061cb", "a\u0085b", "a\u009bb",
		strings.Repeat("s", 256), "cafe\u0301/menu.txt",
	} {
		t.Run(name, func(t *testing.T) {
			for _, p := range protocols {
				f := entry("x", "x")
				f.Name = name
				expectCode(t, e, p, peer, "Publish", snapshot(f), &directoryv1.PublishResponse{}, connect.CodeInvalidArgument)
			}
		})
	}
	if after := e.index(peer); len(after) != len(before) || after[0].GetFile().GetName() != "café/menu.txt" {
		t.Errorf("index changed by refused publishes: %v", after)
	}
	if got := e.searchNames(peer, "cafe\u0301"); len(got) != 1 || got[0] != "café/menu.txt" {
		t.Errorf("search for the NFD spelling found %q, want the NFC name", got)
	}
}
