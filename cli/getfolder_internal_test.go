package cli

import (
	"errors"
	"strings"
	"testing"
)

// TestParseFolderSpecPeerNames checks the peer names --folder accepts,
// now that their pattern is compiled on first use rather than in init:
// a letter or digit, then up to 63 more of letters, digits, '.', '_', '-'.
func TestParseFolderSpecPeerNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		spec string
		ok   bool
	}{
		{"p1:music", true},
		{"p1:", true},
		{"a.b_c-d:x", true},
		{"a" + strings.Repeat("b", 63) + ":x", true},
		{"a" + strings.Repeat("b", 64) + ":x", false},
		{".p1:x", false},
		{"-p1:x", false},
		{":x", false},
		{"p 1:x", false},
		{"p1", false},
		{"p1/x:y", false},
	} {
		_, err := parseFolderSpec(tt.spec)
		if tt.ok != (err == nil) {
			t.Errorf("parseFolderSpec(%q): %v, want ok=%v", tt.spec, err, tt.ok)
		}
		if err != nil && !errors.As(err, new(usageError)) {
			t.Errorf("parseFolderSpec(%q): %v is not a usage error", tt.spec, err)
		}
	}
}
