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
	// Count before reading the store: a change counted after this may or
	// may not be in what the reload reads, so the copy only claims what
	// was counted before. Take the published sessions after counting, so
	// that every publish counted is among them.
	got, gotWhole := s.wanted.Load(), s.wholeWanted.Load()
	s.publishedMu.Lock()
	published := s.published
	s.published = nil
	s.publishedMu.Unlock()

	whole := s.wholeLoaded.Load() < gotWhole || s.age() >= s.maxAge
	if !whole {
		known, err := s.reloadFiles(ctx, published)
		if err != nil {
			s.republish(published)
			return fmt.Errorf("search index: %w", err)
		}
		whole = !known
	}
	if whole {
		started := time.Since(s.epoch)
		if err := s.reload(ctx); err != nil {
			s.republish(published)
			return fmt.Errorf("search index: %w", err)
		}
		s.wholeLoaded.Store(gotWhole)
		s.loadedAt.Store(int64(started))
	}
	s.loaded.Store(got)
	return nil
}

// Load loads the copy now, if a search has not, and returns how many files
// it holds: a directory calls it as it starts, so that its first search
// does not wait for the whole index to load (about 2 s per 100 000 files).
func (s *Store) Load(ctx context.Context) (int, error) {
	if err := s.fresh(ctx); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ix.live, nil
}

// republish notes again the published sessions of a reload that failed.
func (s *Store) republish(ids map[string]bool) {
	for id := range ids {
		s.changedFiles(id)
	}
}

// age is how long ago the last reload started.
func (s *Store) age() time.Duration {
	return time.Since(s.epoch) - time.Duration(s.loadedAt.Load())
}

// reloadFiles reads the files of the sessions ids and applies them to the
// copy. It reports false, changing nothing, if the copy does not hold one
// of them (a session another replica logged in, say): only a whole reload
// reads new sessions.
func (s *Store) reloadFiles(ctx context.Context, ids map[string]bool) (bool, error) {
	s.mu.RLock()
	for id := range ids {
		if s.ix.peers[id] == nil {
			s.mu.RUnlock()
			return false, nil
		}
	}
	s.mu.RUnlock()
	loaded, err := s.readFiles(ctx, ids)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.ix.applyFiles(loaded)
	s.mu.Unlock()
	return true, nil
}

// readFiles reads the files of the sessions ids.
func (s *Store) readFiles(ctx context.Context, ids map[string]bool) (map[string]loadedFiles, error) {
	loaded := make(map[string]loadedFiles, len(ids))
	for id := range ids {
		files, version, err := s.st.SessionFiles(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			loaded[id] = loadedFiles{gone: true}
		case err != nil:
			return nil, err
		default:
			loaded[id] = loadedFiles{files: files, version: version}
		}
	}
	return loaded, nil
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
	stale := make(map[string]bool)
	for _, ip := range list {
		if p := s.ix.peers[ip.Session.ID]; p == nil || p.version != ip.FilesVersion {
			stale[ip.Session.ID] = true
		}
	}
	s.mu.RUnlock()
	loaded, err := s.readFiles(ctx, stale)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ix.apply(list, loaded)
	s.mu.Unlock()
	return nil
}
