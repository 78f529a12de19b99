package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// testConcurrent runs heartbeats, publishes, searches and listings at once;
// under -race it checks the store's locking, and that no call fails (a
// sqlite store must not leak SQLITE_BUSY).
func testConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const peers, rounds = 6, 40
	mustAccount(t, s, "user")
	for i := range peers {
		mustSession(t, s, peerSession(fmt.Sprint("p", i), "user", fmt.Sprint("peer", i), at(time.Hour)))
	}
	var wg sync.WaitGroup
	for i := range peers {
		id := fmt.Sprint("p", i)
		wg.Go(func() {
			for r := range rounds {
				now := at(time.Duration(r) * time.Second)
				if _, err := s.TouchSession(ctx, id, now, at(time.Hour)); err != nil {
					t.Errorf("TouchSession: %v", err)
					return
				}
				files := []store.File{file(fmt.Sprintf("round %d.txt", r), fmt.Sprint(r)), file("common.txt", "common")}
				if _, err := s.ReplaceFiles(ctx, id, files, 10, now); err != nil {
					t.Errorf("ReplaceFiles: %v", err)
					return
				}
				if _, err := s.ApplyDelta(ctx, id, []store.File{file("delta.txt", id)}, []string{"common.txt"}, 10, now); err != nil {
					t.Errorf("ApplyDelta: %v", err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range rounds {
				if _, _, err := s.Search(ctx, store.SearchQuery{Query: "txt", PageSize: 5}, t0); err != nil {
					t.Errorf("Search: %v", err)
					return
				}
				if _, _, err := s.ListFiles(ctx, "", store.Page{Size: 5}, t0); err != nil {
					t.Errorf("ListFiles: %v", err)
					return
				}
				if _, _, err := s.ListPeers(ctx, store.Page{Size: 5}, t0); err != nil {
					t.Errorf("ListPeers: %v", err)
					return
				}
				if _, err := s.Stats(ctx, t0); err != nil {
					t.Errorf("Stats: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	same(t, "stats", mustStats(t, s, t0), store.Stats{OnlinePeers: peers, IndexedFiles: 2 * peers})
}
