package storetest

import (
	"errors"
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
				if _, err := s.ReplaceFiles(ctx, id, files, peerLimit(10), now); err != nil {
					t.Errorf("ReplaceFiles: %v", err)
					return
				}
				if _, err := s.ApplyDelta(ctx, id, []store.File{file("delta.txt", id)}, []string{"common.txt"}, peerLimit(10), now); err != nil {
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

// testAccountLimitsConcurrent logs in and publishes for one account from
// many goroutines at once: the limits on its sessions and its files hold
// exactly, whatever the interleaving (a store whose writers run
// concurrently must make them take turns per account), and two accounts
// racing for one peer name end with one owner.
func testAccountLimitsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, maxSessions, maxFiles = 8, 5, 7
	mustAccount(t, s, "user")
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := range workers {
		wg.Go(func() {
			errs[i] = s.CreateSession(ctx, peerSession(fmt.Sprint("p", i), "user", fmt.Sprint("peer", i), at(time.Hour)), maxSessions, t0)
		})
	}
	wg.Wait()
	var live []string
	for i, err := range errs {
		switch {
		case err == nil:
			live = append(live, fmt.Sprint("p", i))
		case !errors.Is(err, store.ErrLimit):
			t.Fatalf("CreateSession p%d: %v", i, err)
		}
	}
	same(t, "sessions created", len(live), maxSessions)

	limits := store.FileLimits{Peer: 10, Account: maxFiles}
	published := make([]int64, len(live))
	for i, id := range live {
		wg.Go(func() {
			files := []store.File{file(id+"-a.txt", id+"a"), file(id+"-b.txt", id+"b")}
			n, err := s.ReplaceFiles(ctx, id, files, limits, t0)
			if err != nil && !errors.Is(err, store.ErrAccountFiles) {
				t.Errorf("ReplaceFiles %s: %v", id, err)
			}
			published[i] = n
		})
	}
	wg.Wait()
	var total int64
	for _, n := range published {
		total += n
	}
	same(t, "files published", total, int64(maxFiles/2*2))
	same(t, "stats", mustStats(t, s, t0).IndexedFiles, total)

	mustAccount(t, s, "other")
	for _, user := range []string{"user", "other"} {
		wg.Go(func() {
			err := s.CreateSession(ctx, peerSession("race-"+user, user, "contested", at(time.Hour)), noLimit, t0)
			if err != nil && !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrLimit) {
				t.Errorf("CreateSession for %s: %v", user, err)
			}
		})
	}
	wg.Wait()
	owner, err := s.PeerNameOwner(ctx, "contested")
	wantErr(t, "PeerNameOwner", err, nil)
	got, err := s.GetSession(ctx, "race-"+owner, t0)
	wantErr(t, "the owner's session", err, nil)
	same(t, "holder", got.Username, owner)
}
