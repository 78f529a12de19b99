package pieces

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestIsHex(t *testing.T) {
	t.Parallel()
	h := Hex(sha256.Sum256([]byte("ishex")))
	tests := []struct {
		in   string
		want bool
	}{
		{h, true},
		{strings.Repeat("0", 64), true},
		{strings.Repeat("f", 64), true},
		{strings.ToUpper(h), false}, // the wire form is lower case
		{h[:63] + "A", false},
		{h[:63], false},
		{h + "0", false},
		{strings.Repeat("g", 64), false},
		{h[:63] + "/", false}, // just below '0'
		{h[:63] + ":", false}, // just above '9'
		{h[:63] + "`", false}, // just below 'a'
		{"", false},
	}
	for _, tt := range tests {
		if got := IsHex(tt.in); got != tt.want {
			t.Errorf("IsHex(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
