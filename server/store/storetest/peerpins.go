package storetest

import (
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// testPeerPins: a peer name's pin is bound at its logins, a different pin
// is a change (dated), the same pin or cleartext is not, search results
// carry it, and the binding goes with the name.
func testPeerPins(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	const pinA, pinB = "sha256//AAAA", "sha256//BBBB"
	pins := func(t *testing.T, want map[string]store.PeerPin) {
		t.Helper()
		got, err := s.PeerPins(ctx, []string{"den", "attic", "nobody"})
		wantErr(t, "PeerPins", err, nil)
		for k, v := range got {
			v.ChangedAt = normTime(v.ChangedAt)
			got[k] = v
		}
		same(t, "pins", got, want)
		// The listings carry the same pins, read by themselves.
		peers, _, err := s.ListPeers(ctx, store.Page{Size: 10}, at(0))
		wantErr(t, "ListPeers", err, nil)
		for _, p := range peers {
			p.Pin.ChangedAt = normTime(p.Pin.ChangedAt)
			same(t, "ListPeers pin of "+p.Session.PeerName, p.Pin, want[p.Session.PeerName])
		}
		files, _, err := s.ListFiles(ctx, "", store.Page{Size: 10}, at(0))
		wantErr(t, "ListFiles", err, nil)
		for _, f := range files {
			same(t, "ListFiles pin of "+f.Peer, f.Pin, want[f.Peer].Pin)
		}
		if len(want) > 0 && len(peers) == 0 {
			t.Fatal("ListPeers listed no peer: the pins in listings went unchecked")
		}
	}
	bind := func(t *testing.T, name, pin string, now time.Time, wantPrevious string) {
		t.Helper()
		prev, err := s.BindPeerPin(ctx, name, pin, now)
		wantErr(t, "BindPeerPin "+name, err, nil)
		same(t, "previous pin of "+name, prev, wantPrevious)
	}

	got, err := s.PeerPins(ctx, nil)
	wantErr(t, "PeerPins of none", err, nil)
	same(t, "pins of none", len(got), 0)

	mustSession(t, s, peerSession("a1", "alice", "den", at(time.Minute)))
	mustSession(t, s, peerSession("b1", "bob", "attic", at(time.Minute)))
	bind(t, "den", pinA, at(0), "")
	bind(t, "attic", "", at(0), "")
	pins(t, map[string]store.PeerPin{"den": {Pin: pinA}, "attic": {Pin: ""}})

	// Search results carry each source's pin, read by the search itself.
	f := file("song.mp3", "pinned content")
	mustReplace(t, s, "a1", f)
	mustReplace(t, s, "b1", f)
	for _, q := range []store.SearchQuery{{SHA256: f.SHA256}, {Query: "song"}} {
		q.PageSize = 10
		res, _, err := s.Search(ctx, q, at(0))
		wantErr(t, "Search", err, nil)
		if len(res) != 1 {
			t.Fatalf("Search %+v = %d results, want 1", q, len(res))
		}
		got := map[string]string{}
		for _, src := range res[0].Sources {
			got[src.Peer] = src.Pin
		}
		same(t, "pins of the search's sources", got, map[string]string{"den": pinA, "attic": ""})
	}

	// The same key again: no change.
	bind(t, "den", pinA, at(time.Second), "")
	pins(t, map[string]store.PeerPin{"den": {Pin: pinA}, "attic": {Pin: ""}})

	// A new key: a change, dated, and the old pin returned.
	bind(t, "den", pinB, at(2*time.Second), pinA)
	pins(t, map[string]store.PeerPin{"den": {Pin: pinB, ChangedAt: normTime(at(2 * time.Second))}, "attic": {Pin: ""}})

	// Cleartext to a key is no change; the date of the last change stays.
	bind(t, "attic", pinA, at(3*time.Second), "")
	bind(t, "den", pinB, at(4*time.Second), "")
	pins(t, map[string]store.PeerPin{"den": {Pin: pinB, ChangedAt: normTime(at(2 * time.Second))}, "attic": {Pin: pinA}})

	// A name nobody owns cannot be bound.
	if _, err := s.BindPeerPin(ctx, "nobody", pinA, at(5*time.Second)); err == nil {
		t.Fatal("BindPeerPin of an unowned name succeeded")
	}

	// Releasing the name drops its binding: the next owner starts afresh.
	wantErr(t, "ReleasePeerName", s.ReleasePeerName(ctx, "den", "alice", true, at(6*time.Second)), nil)
	pins(t, map[string]store.PeerPin{"attic": {Pin: pinA}})
	mustSession(t, s, peerSession("b2", "bob", "den", at(time.Minute)))
	bind(t, "den", pinA, at(7*time.Second), "")
	pins(t, map[string]store.PeerPin{"den": {Pin: pinA}, "attic": {Pin: pinA}})

	// A login binds the pin of its session in the same transaction: the
	// session is never listed without it.
	ss := peerSession("a3", "alice", "cellar", at(time.Minute))
	ss.Pin = pinB
	mustSession(t, s, ss)
	got, err = s.PeerPins(ctx, []string{"cellar"})
	wantErr(t, "PeerPins after a login with a pin", err, nil)
	same(t, "pin bound by the login", got["cellar"].Pin, pinB)
}
