package liveindex

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// fresh makes the copy include every change made through this Store before
// the call, and be at most maxAge old, reloading it if not. Concurrent
// searches share one reload.
func (s *Store) fresh(ctx context.Context) error {
	want := s.wanted.Load()
	if s.loaded.Load() >= want && s.age() < s.maxAge {
		return nil
	}
	s.reloading.Lock()
	defer s.reloading.Unlock()
	if s.loaded.Load() >= want && s.age() < s.maxAge {
		return nil // another search reloaded meanwhile
	}
	// Read before reading the store: a change counted after this may or
	// may not be in what the reload reads, so the copy only claims what
	// was counted before.
	got := s.wanted.Load()
	started := time.Since(s.epoch)
	if err := s.reload(ctx); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	s.loaded.Store(got)
	s.loadedAt.Store(int64(started))
	return nil
}

// age is how long ago the last reload started.
func (s *Store) age() time.Duration {
	return time.Since(s.epoch) - time.Duration(s.loadedAt.Load())
}

// reload reads the peer sessions, and the files of those that are new or
// whose files version moved, then applies them to the copy. Reloads run one
// at a time (fresh), so the copy changes only here and in heartbeats.
func (s *Store) reload(ctx context.Context) error {
	list, err := s.st.PeerSessions(ctx)
	if err != nil {
		return err
	}
	s.mu.RLock()
	var stale []string
	for _, ip := range list {
		if p := s.ix.peers[ip.Session.ID]; p == nil || p.version != ip.FilesVersion {
			stale = append(stale, ip.Session.ID)
		}
	}
	s.mu.RUnlock()
	loaded := make(map[string]loadedFiles, len(stale))
	for _, id := range stale {
		files, version, err := s.st.SessionFiles(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			loaded[id] = loadedFiles{gone: true}
		case err != nil:
			return err
		default:
			loaded[id] = loadedFiles{files: files, version: version}
		}
	}
	s.mu.Lock()
	s.ix.apply(list, loaded)
	s.mu.Unlock()
	return nil
}
