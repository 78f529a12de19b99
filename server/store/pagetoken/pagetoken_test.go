package pagetoken

import (
	"bytes"
	"errors"
	"testing"

	"github.com/peerhub/peerhub/server/store"
)

func TestDecode(t *testing.T) {
	const f = Format('t')
	bind := Hash("files", "alice")
	pos := AppendString(AppendString(nil, "alice"), "a.txt")
	tok := f.Encode(bind, pos)
	for _, tc := range []struct {
		name string
		f    Format
		tok  string
		bind uint32
		want []byte // nil: refused
	}{
		{"round trip", f, tok, bind, pos},
		{"empty position", f, f.Encode(bind, nil), bind, []byte{}},
		{"wrong version", Format('u'), tok, bind, nil},
		{"wrong query hash", f, tok, Hash("files", "bob"), nil},
		{"parts do not run together", f, tok, Hash("files", "ali", "ce"), nil},
		{"truncated header", f, Format('t').Encode(bind, nil)[:6], bind, nil},
		{"bad base64", f, tok + "!", bind, nil},
		{"padded base64", f, tok + "==", bind, nil},
		{"empty", f, "", bind, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.Decode(tc.tok, tc.bind)
			if tc.want == nil {
				if !errors.Is(err, store.ErrInvalidArgument) {
					t.Fatalf("Decode(%q) = %q, %v; want ErrInvalidArgument", tc.tok, got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("Decode(%q) = %q, %v; want %q", tc.tok, got, err, tc.want)
			}
		})
	}
}

func TestReadString(t *testing.T) {
	pos := AppendString(AppendString(nil, "alice"), "")
	for _, tc := range []struct {
		name     string
		in       []byte
		want     string
		wantRest []byte
		ok       bool
	}{
		{"first", pos, "alice", pos[6:], true},
		{"empty string", pos[6:], "", []byte{}, true},
		{"truncated string", pos[:3], "", nil, false},
		{"no length", nil, "", nil, false},
		{"overlong length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "", nil, false},
		{"length not in its shortest form", []byte{0x81, 0x00, 'a'}, "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := ReadString(tc.in)
			if (err == nil) != tc.ok || got != tc.want || (tc.ok && !bytes.Equal(rest, tc.wantRest)) {
				t.Fatalf("ReadString(%q) = %q, %q, %v; want %q, %q, ok %v", tc.in, got, rest, err, tc.want, tc.wantRest, tc.ok)
			}
		})
	}
}

func TestDecodeID(t *testing.T) {
	const f = Format('t')
	bind := Hash("search", "song", "")
	for _, tc := range []struct {
		name string
		tok  string
		want int64
		ok   bool
	}{
		{"no token", "", 0, true},
		{"round trip", f.EncodeID(bind, 1<<40+7), 1<<40 + 7, true},
		{"zero", f.EncodeID(bind, 0), 0, true},
		{"negative", f.EncodeID(bind, -1), 0, false},
		{"wrong version", Format('u').EncodeID(bind, 7), 0, false},
		{"wrong query hash", f.EncodeID(Hash("search", "other", ""), 7), 0, false},
		{"short position", f.Encode(bind, []byte{0, 0, 0, 7}), 0, false},
		{"long position", f.Encode(bind, make([]byte, 9)), 0, false},
		{"bad base64", "*" + f.EncodeID(bind, 7), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.DecodeID(tc.tok, bind)
			if tc.ok != (err == nil) || got != tc.want || (!tc.ok && !errors.Is(err, store.ErrInvalidArgument)) {
				t.Fatalf("DecodeID(%q) = %d, %v; want %d, ok %v", tc.tok, got, err, tc.want, tc.ok)
			}
		})
	}
}
