package sharepath

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "song.ogg", true},
		{"nested", "music/album/song.ogg", true},
		{"unicode", "musique/été/chanson.ogg", true},
		{"spaces", "my files/a b.txt", true},
		{"dotfile", ".hidden", true},
		{"dots inside", "a..b/...", true},
		{"device prefix only", "console/config.txt", true},
		{"com10 is no device", "com10", true},
		{"device as suffix", "myaux", true},
		{"non-ASCII digit", "com¹", true},
		{"max length", strings.Repeat("a", MaxLen), true},
		{"backslash allowed by contract", `a\b`, true},
		{"C1 control allowed by contract", "a\u0085b", true},

		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"leading slash", "/etc/passwd", false},
		{"trailing slash", "dir/", false},
		{"double slash", "a//b", false},
		{"dot", ".", false},
		{"dot segment", "a/./b", false},
		{"dotdot", "..", false},
		{"dotdot escape", "../secret", false},
		{"dotdot inside", "a/../b", false},
		{"invalid UTF-8", "a\xffb", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7fb", false},
		{"CON", "CON", false},
		{"con lower", "con", false},
		{"nul with extension", "dir/nul.txt", false},
		{"aux double extension", "Aux.tar.gz", false},
		{"prn trailing dot", "prn.", false},
		{"COM0", "COM0", false},
		{"com9 in folder", "com9/x", false},
		{"LPT1", "x/lpt1.log", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q) = nil, want an error", tt.in)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check(%q) = %v, want it to wrap ErrInvalid", tt.in, err)
			}
		})
	}
}

func TestCheckMessageIsShort(t *testing.T) {
	t.Parallel()
	err := Check(strings.Repeat("x", 1<<20))
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("Check(1 MB name) = %v, want a short error", err)
	}
}
