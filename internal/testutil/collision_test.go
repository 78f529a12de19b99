package testutil_test

import (
	"bytes"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
)

func TestHashPrefixCollision(t *testing.T) {
	t.Parallel()
	a, b := testutil.HashPrefixCollision(1)
	ha, hb := testutil.SHA256Hex(a), testutil.SHA256Hex(b)
	if bytes.Equal(a, b) || ha[:8] != hb[:8] || ha == hb {
		t.Fatalf("%q %s and %q %s do not collide on 8 digits", a, ha, b, hb)
	}
	t.Logf("%s\n%s", ha, hb)
}
