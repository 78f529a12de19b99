package server_test

import (
	"testing"

	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/store/liveindex"
)

// TestSearchIndexOption: a directory's store searches from memory unless
// --search-in-store says otherwise, on each kind of store.
func TestSearchIndexOption(t *testing.T) {
	for _, kind := range []string{server.StoreSQLite, server.StoreMemory} {
		for _, inStore := range []bool{false, true} {
			st, err := server.OpenStore(t.Context(), server.Config{Store: kind, Data: t.TempDir(), SearchInStore: inStore})
			if err != nil {
				t.Fatal(err)
			}
			if _, wrapped := st.(*liveindex.Store); wrapped == inStore {
				t.Errorf("store %s, SearchInStore %v: in-memory search index %v", kind, inStore, wrapped)
			}
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	}
}
