package pagetoken

import (
	"bytes"
	"errors"
	"testing"

	"github.com/peerhub/peerhub/server/store"
)

// FuzzDecode feeds Decode, DecodeID and ReadString any token: they never
// panic, refuse with store.ErrInvalidArgument, and accept only the one
// encoding of a position, so a token is a canonical name of its page.
func FuzzDecode(f *testing.F) {
	const format = Format('t')
	bind := Hash("files", "alice")
	for _, tok := range []string{
		"",
		format.Encode(bind, nil),
		format.Encode(bind, AppendString(AppendString(nil, "alice"), "a.txt")),
		format.EncodeID(bind, 0),
		format.EncodeID(bind, 1<<40+7),
		format.EncodeID(bind, -1),
		Format('u').EncodeID(bind, 7),
		format.Encode(Hash("files", "bob"), []byte{1, 'x'}),
		format.Encode(bind, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
		format.EncodeID(bind, 7) + "==",
		"dAAAAAA",
		"dAAAAAB",
		"!!!!",
	} {
		f.Add(tok, bind)
	}
	f.Fuzz(func(t *testing.T, tok string, bind uint32) {
		pos, err := format.Decode(tok, bind)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("Decode(%q) = %v, want ErrInvalidArgument", tok, err)
			}
		} else if again := format.Encode(bind, pos); again != tok {
			t.Fatalf("Decode(%q) accepted a token that encodes as %q", tok, again)
		}
		id, err := format.DecodeID(tok, bind)
		switch {
		case err != nil && !errors.Is(err, store.ErrInvalidArgument):
			t.Fatalf("DecodeID(%q) = %v, want ErrInvalidArgument", tok, err)
		case err == nil && id < 0:
			t.Fatalf("DecodeID(%q) = %d", tok, id)
		case err == nil && tok != "" && format.EncodeID(bind, id) != tok:
			t.Fatalf("DecodeID(%q) = %d, which encodes as %q", tok, id, format.EncodeID(bind, id))
		}
		// ReadString over any bytes: a string and the rest that
		// AppendString gives back exactly.
		in := []byte(tok)
		if s, rest, err := ReadString(in); err == nil && !bytes.Equal(append(AppendString(nil, s), rest...), in) {
			t.Fatalf("ReadString(%q) = %q, %q: another encoding", in, s, rest)
		}
	})
}
