package sharepath_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/peerhub/peerhub/internal/sharepath"
)

// nameCase is one name of the table that both Check and the protocol's
// rules are held to (see TestProtoRulesAgree).
type nameCase struct {
	name string
	in   string
	ok   bool
	// nfcOnly marks a name refused only because it is not in NFC: the one
	// rule the protocol's CEL cannot state.
	nfcOnly bool
}

// names is the table of names; keep a case for every rule of Check.
var names = []nameCase{
	{"simple", "song.ogg", true, false},
	{"nested", "music/album/song.ogg", true, false},
	{"unicode NFC", "musique/été/chanson.ogg", true, false},
	{"CJK", "音楽/曲.flac", true, false},
	{"emoji", "fotos/🎉.jpg", true, false},
	{"spaces", "my files/a b.txt", true, false},
	{"dotfile", ".hidden", true, false},
	{"dots inside", "a..b/...", true, false},
	{"device prefix only", "console/config.txt", true, false},
	{"com10 is no device", "com10", true, false},
	{"device as suffix", "myaux", true, false},
	{"non-ASCII digit", "com¹", true, false},
	{"max length", strings.Repeat("a/", sharepath.MaxLen/2-1) + "aa", true, false},
	{"max segment", strings.Repeat("a", sharepath.MaxSegment), true, false},
	{"max segment multibyte", strings.Repeat("é", sharepath.MaxSegment/2), true, false},
	{"NBSP and other spaces", "a\u00a0b\u2003c", true, false},
	{"combining mark with no precomposed form", "q\u0303.txt", true, false},
	{"zero width joiner", "a\u200db", true, false},
	{"after C1", "\u00a0\u00ff", true, false},

	{"empty", "", false, false},
	{"too long", strings.Repeat("a/", sharepath.MaxLen/2) + "a", false, false},
	{"segment too long", strings.Repeat("a", sharepath.MaxSegment+1), false, false},
	{"segment too long in bytes", "x/" + strings.Repeat("é", sharepath.MaxSegment/2+1), false, false},
	{"leading slash", "/etc/passwd", false, false},
	{"trailing slash", "dir/", false, false},
	{"double slash", "a//b", false, false},
	{"dot", ".", false, false},
	{"dot segment", "a/./b", false, false},
	{"dotdot", "..", false, false},
	{"dotdot escape", "../secret", false, false},
	{"dotdot inside", "a/../b", false, false},
	{"NUL", "a\x00b", false, false},
	{"newline", "a\nb", false, false},
	{"tab", "a\tb", false, false},
	{"escape", "a\x1b[31mred", false, false},
	{"DEL", "a\x7fb", false, false},
	{"C1 NEL", "a\u0085b", false, false},
	{"C1 CSI", "a\u009b31m", false, false},
	{"C1 first", "\u0080", false, false},
	{"C1 last", "\u009f", false, false},
	{"backslash", `a\b`, false, false},
	{"windows escape", `..\..\x`, false, false},
	{"windows absolute", `\Windows\x`, false, false},
	{"drive letter", "C:x", false, false},
	{"drive path", "C:/Windows/x", false, false},
	{"stream", "file.txt:stream", false, false},
	{"RLO", "evil\u202egnp.exe", false, false},
	{"LRE", "a\u202ab", false, false},
	{"PDF", "a\u202cb", false, false},
	{"LRO", "a\u202db", false, false},
	{"LRI", "a\u2066b", false, false},
	{"PDI", "a\u2069b", false, false},
	{"LRM", "a\u200eb", false, false},
	{"RLM", "a\u200fb", false, false},
	{"ALM", "a\u061cb", false, false},
	{"CON", "CON", false, false},
	{"con lower", "con", false, false},
	{"nul with extension", "dir/nul.txt", false, false},
	{"aux double extension", "Aux.tar.gz", false, false},
	{"prn trailing dot", "prn.", false, false},
	{"COM0", "COM0", false, false},
	{"com9 in folder", "com9/x", false, false},
	{"LPT1", "x/lpt1.log", false, false},
	{"NFD", "musique/e\u0301te\u0301.ogg", false, true},
	{"NFD in folder", "cafe\u0301/menu.txt", false, true},
	{"compatibility form is NFC", "ﬁ.txt", true, false},
	{"Hangul jamo", "\u1100\u1161.txt", false, true},
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range append(names, nameCase{"invalid UTF-8", "a\xffb", false, false}) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := sharepath.Check(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q) = nil, want an error", tt.in)
			}
			if !errors.Is(err, sharepath.ErrInvalid) {
				t.Fatalf("Check(%q) = %v, want it to wrap ErrInvalid", tt.in, err)
			}
			if tt.nfcOnly && !strings.Contains(err.Error(), "NFC") {
				t.Errorf("Check(%q) = %v, want the NFC rule to be the reason", tt.in, err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tt := range names {
		if !tt.nfcOnly {
			continue
		}
		n := sharepath.Normalize(tt.in)
		if err := sharepath.Check(n); err != nil {
			t.Errorf("Check(Normalize(%q)) = %v, want nil", tt.in, err)
		}
		if n == tt.in {
			t.Errorf("Normalize(%q) changed nothing", tt.in)
		}
	}
	if got := sharepath.Normalize("e\u0301"); got != "é" {
		t.Errorf("Normalize(e + U+0301) = %q, want é", got)
	}
}

func TestCheckSegment(t *testing.T) {
	t.Parallel()
	if err := sharepath.CheckSegment("a.txt"); err != nil {
		t.Errorf("CheckSegment(a.txt) = %v", err)
	}
	for _, bad := range []string{"a/b", "..", `..\..\x`, "C:x", ""} {
		if err := sharepath.CheckSegment(bad); !errors.Is(err, sharepath.ErrInvalid) {
			t.Errorf("CheckSegment(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCheckMessageIsShort(t *testing.T) {
	t.Parallel()
	for _, name := range []string{strings.Repeat("x", 1<<20), strings.Repeat("é", 1<<19)} {
		err := sharepath.Check(name)
		if err == nil || len(err.Error()) > 200 || !utf8.ValidString(err.Error()) {
			t.Fatalf("Check(1 MB name) = %v, want a short valid error", err)
		}
	}
}

// FuzzCheckName checks that Check never panics and that what it accepts
// holds up: valid UTF-8, within the length limits, no separator but "/",
// no ".." segment, already normalised, and accepted again after a round
// trip through Normalize.
func FuzzCheckName(f *testing.F) {
	for _, tt := range names {
		f.Add(tt.in)
	}
	f.Add("a\xffb")
	f.Fuzz(func(t *testing.T, name string) {
		err := sharepath.Check(name)
		if err != nil {
			if !errors.Is(err, sharepath.ErrInvalid) || len(err.Error()) > 300 {
				t.Fatalf("Check(%q) = %v: not ErrInvalid or too long", name, err)
			}
			return
		}
		switch {
		case !utf8.ValidString(name), len(name) > sharepath.MaxLen:
			t.Fatalf("accepted %q: invalid UTF-8 or too long", name)
		case strings.ContainsAny(name, "\\:\x00"):
			t.Fatalf("accepted %q: a Windows separator or NUL", name)
		case sharepath.Normalize(name) != name:
			t.Fatalf("accepted %q: not NFC", name)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if seg == "" || seg == "." || seg == ".." || len(seg) > sharepath.MaxSegment {
				t.Fatalf("accepted %q: segment %q", name, seg)
			}
		}
		for _, r := range name {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("accepted %q: control or bidi character %U", name, r)
			}
		}
	})
}
