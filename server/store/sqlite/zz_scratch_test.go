package sqlite_test

import (
	"os"
	"testing"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlite"
	"github.com/peerhub/peerhub/server/store/storetest"
)

func BenchmarkScratchBuild(b *testing.B) {
	p := os.Getenv("SCRATCH_DB")
	os.Remove(p)
	os.Remove(p + "-wal")
	os.Remove(p + "-shm")
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := sqlite.Open(b.Context(), p)
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
