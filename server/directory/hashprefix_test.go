package directory_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
)

// TestSearchHashPrefixChecks checks the domain's own rules for a hash
// prefix (the API's validation says the same, but the domain must not rely
// on it).
func TestSearchHashPrefixChecks(t *testing.T) {
	t.Parallel()
	d := newDir(t, newStore(t), newClock())
	h := hexOf("x")
	bad := []store.SearchQuery{
		{SHA256Prefix: h[:directory.MinHashPrefixLen-1]},
		{SHA256Prefix: strings.ToUpper(h[:8])},
		{SHA256Prefix: h[:8] + "g"},
		{SHA256Prefix: h + "0"},
		{SHA256Prefix: h[:8], SHA256: h},
	}
	for i, q := range bad {
		if _, _, err := d.Search(t.Context(), q); !errors.Is(err, directory.ErrInvalidArgument) {
			t.Errorf("bad query %d %+v: %v", i, q, err)
		}
	}
	good := []store.SearchQuery{{SHA256Prefix: h[:8]}, {SHA256Prefix: h[:9], Query: "abc"}, {SHA256Prefix: h}}
	for i, q := range good {
		if _, _, err := d.Search(t.Context(), q); err != nil {
			t.Errorf("good query %d %+v: %v", i, q, err)
		}
	}
}
