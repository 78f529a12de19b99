package liveindex_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/liveindex"
	"github.com/peerhub/peerhub/server/store/sqlite"
)

// BenchmarkSearch compares a search answered from the copy with the same
// search answered by the SQLite store it wraps, at 100 000 files of 100
// peers (a harness, not the product: bench/directory.sh measures the
// directory). Kinds: one match by a rare name, a page of 50 of 100 000
// matches by a common word, one match by hash.
//
//	go test -run '^$' -bench BenchmarkSearch ./server/store/liveindex/
func BenchmarkSearch(b *testing.B) {
	ctx := b.Context()
	st, err := sqlite.Open(ctx, b.TempDir()+"/directory.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	mustAccount(b, st, "u")
	const peers, per = 100, 1000
	sessions := make([]store.Session, peers)
	files := make([][]store.File, peers)
	for p := range sessions {
		id := fmt.Sprintf("s%03d", p)
		sessions[p] = store.Session{ID: id, Username: "u", PeerName: id, Address: "https://" + id + ".example", Created: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
		for i := range per {
			n := p*per + i
			files[p] = append(files[p], store.File{Name: fmt.Sprintf("Music/Artist %d/Album %d/%02d - Song number %06d.mp3", n%97, n%13, n%20, n),
				Size: 1, SHA256: hashOf(fmt.Sprint(n)), PieceSize: 1 << 18, PieceRoot: hashOf("r"), Modified: t0})
		}
	}
	if err := st.BulkLoad(ctx, sessions, files); err != nil {
		b.Fatal(err)
	}
	s := liveindex.New(st, liveindex.Options{Tokens: sqlite.PageTokens, MaxAge: time.Hour})
	start := time.Now()
	if _, _, err := s.Search(ctx, store.SearchQuery{Query: "song", PageSize: 1}, t0); err != nil {
		b.Fatal(err)
	}
	b.Logf("first search, loading %d files: %v", peers*per, time.Since(start))
	queries := []struct {
		name string
		q    store.SearchQuery
	}{
		{"rare", store.SearchQuery{Query: "number 054321", PageSize: 50}},
		{"common", store.SearchQuery{Query: "song", PageSize: 50}},
		{"hash", store.SearchQuery{SHA256: hashOf("54321"), PageSize: 50}},
	}
	for _, q := range queries {
		for _, w := range []struct {
			name string
			s    store.Store
		}{{"store", st}, {"index", s}} {
			b.Run(q.name+"/"+w.name, func(b *testing.B) {
				for b.Loop() {
					rs, _, err := w.s.Search(ctx, q.q, t0)
					if err != nil || len(rs) == 0 {
						b.Fatalf("Search: %d results, %v", len(rs), err)
					}
				}
			})
		}
	}
}
