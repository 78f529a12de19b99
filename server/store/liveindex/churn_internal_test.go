package liveindex

import (
	"fmt"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlite"
)

// TestAttackChurnStaysBounded: a hostile peer republishes its whole index
// with new names over and over, so that every reload removes all its
// entries and adds as many. Removal only marks entries, so without
// compaction the posting lists would grow with every round; the test
// checks that the dead entries stay bounded (compactAt, plus one round's),
// that the lists hold no more than the live and dead entries, and that
// searches still see exactly the newest round.
func TestAttackChurnStaysBounded(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir()+"/directory.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(st, Options{Tokens: sqlite.PageTokens, MaxAge: time.Hour})
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.CreateAccount(ctx, store.Account{Name: "mallory", PasswordHash: []byte("h"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	ss := store.Session{ID: "m1", Username: "mallory", PeerName: "churn", Address: "https://churn.example", Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, ss, 10, t0); err != nil {
		t.Fatal(err)
	}
	const perRound, rounds = 300, 16 // 4 800 entries in all, past compactAt + perRound
	for round := range rounds {
		files := make([]store.File, perRound)
		for i := range files {
			files[i] = store.File{Name: fmt.Sprintf("round-%02d-file-%03d.bin", round, i), Size: 1,
				SHA256: fmt.Sprintf("%064x", round*perRound+i), PieceSize: 1 << 16, PieceRoot: fmt.Sprintf("%064x", 1), Modified: t0}
		}
		if _, err := s.ReplaceFiles(ctx, "m1", files, store.FileLimits{Peer: perRound, Account: perRound}, t0); err != nil {
			t.Fatal(err)
		}
		rs, _, err := s.Search(ctx, store.SearchQuery{Query: "file-", PageSize: 1000}, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("round-%02d-", round)
		if len(rs) != perRound || rs[0].Names[0][:len(want)] != want {
			t.Fatalf("round %d: %d results, first %v; want the %d files of this round", round, len(rs), rs[0].Names, perRound)
		}
		s.mu.RLock()
		live, dead := s.ix.live, s.ix.dead
		hashed := 0
		for _, l := range s.ix.hashes {
			hashed += len(l)
		}
		s.mu.RUnlock()
		if live != perRound || dead > compactAt+perRound || hashed != live+dead {
			t.Fatalf("round %d: %d live, %d dead, %d in the hash lists; want %d live, at most %d dead, lists of live+dead",
				round, live, dead, hashed, perRound, compactAt+perRound)
		}
	}
}
