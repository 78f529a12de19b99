package memory_test

import (
	"testing"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/memory"
	"github.com/peerhub/peerhub/server/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return memory.New() })
}
