package postgres

import (
	"context"
	"fmt"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// PeerSessions implements store.Store (sqlstore.PeerSessions).
func (s *Store) PeerSessions(ctx context.Context) ([]store.IndexedPeer, error) {
	ps, err := sqlstore.PeerSessions(ctx, querier{s.pool})
	if err != nil {
		return nil, fmt.Errorf("peer sessions: %w", err)
	}
	return ps, nil
}

// SessionFiles implements store.Store (sqlstore.SessionFiles; hashes are
// stored as their 32 bytes).
func (s *Store) SessionFiles(ctx context.Context, id string) ([]store.IndexedFile, int64, error) {
	fs, v, err := sqlstore.SessionFiles(ctx, querier{s.pool}, id, encodeHash)
	if err != nil {
		return nil, 0, fmt.Errorf("session files: %w", err)
	}
	return fs, v, nil
}
