package downloader

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// goodState is a valid state of a 3-piece content (1 MiB pieces), pieces 0
// and 2 done.
func goodState() *state {
	return &state{
		Version:   stateVersion,
		SHA256:    strings.Repeat("a", 64),
		Size:      2<<20 + 5,
		PieceSize: 1 << 20,
		PieceRoot: strings.Repeat("b", 64),
		Done:      []byte{0b101},
	}
}

func encoded(t testing.TB, s *state) []byte {
	t.Helper()
	data, err := encodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeState(t *testing.T) {
	t.Parallel()
	with := func(f func(s *state)) []byte {
		s := goodState()
		f(s)
		return encoded(t, s)
	}
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"good", encoded(t, goodState()), true},
		{"empty content", with(func(s *state) { s.Size, s.Done = 0, []byte{} }), true},
		{"largest", with(func(s *state) { s.Size, s.PieceSize, s.Done = MaxPieces<<20, 1<<20, make([]byte, MaxPieces/8) }), true},
		{"empty file", nil, false},
		{"torn", encoded(t, goodState())[:20], false},
		{"not JSON", []byte("\x00\x01garbage"), false},
		{"other version", with(func(s *state) { s.Version = 2 }), false},
		{"bad sha256", with(func(s *state) { s.SHA256 = "xyz" }), false},
		{"uppercase sha256", with(func(s *state) { s.SHA256 = strings.Repeat("A", 64) }), false},
		{"no piece root", with(func(s *state) { s.PieceRoot = "" }), false},
		{"negative size", with(func(s *state) { s.Size = -1 }), false},
		{"size 2^63-1", with(func(s *state) { s.Size = 1<<63 - 1 }), false},
		{"size past MaxSize", with(func(s *state) { s.Size = MaxSize + 1 }), false},
		{"no piece size", with(func(s *state) { s.PieceSize = 0 }), false},
		{"tiny piece size", with(func(s *state) { s.PieceSize = 1 }), false},
		{"huge piece size", with(func(s *state) { s.PieceSize = 1 << 40 }), false},
		{"too many pieces", with(func(s *state) { s.Size, s.PieceSize, s.Done = MaxPieces<<14+1, 1<<14, make([]byte, MaxPieces/8+1) }), false},
		{"bitmap too short", with(func(s *state) { s.Done = nil }), false},
		{"bitmap too long", with(func(s *state) { s.Done = []byte{1, 0} }), false},
		{"bit past the last piece", with(func(s *state) { s.Done = []byte{0b1001} }), false},
		{"oversized file", append(encoded(t, goodState()), bytes.Repeat([]byte(" "), maxStateBytes)...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := decodeState(tt.data)
			if tt.ok != (err == nil) {
				t.Fatalf("decodeState = %+v, %v; want ok %v", s, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errBadState) {
				t.Errorf("error %v does not wrap errBadState", err)
			}
		})
	}
}

// FuzzDecodeState checks that decoding a state file, which anyone who can
// write the output folder may have written, never panics, never accepts a
// state past the limits, and allocates about the input's size at most.
func FuzzDecodeState(f *testing.F) {
	// The largest valid state is in TestDecodeState: as a seed, its 88 KB
	// would slow every mutation down.
	f.Add(encoded(f, goodState()))
	f.Add([]byte(`{"version":1,"sha256":"` + strings.Repeat("a", 64) + `","size":9223372036854775807,"piece_size":1,"done":""}`))
	f.Add([]byte(`{"version":1,"size":-1,"piece_size":-9223372036854775808,"done":"////"}`))
	f.Add([]byte(`{"done":"` + strings.Repeat("A", 1<<10) + `"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeState(data)
		if err != nil {
			if s != nil || !errors.Is(err, errBadState) {
				t.Fatalf("decodeState = %+v, %v", s, err)
			}
			return
		}
		n := pieceCount(s.Size, s.PieceSize)
		switch {
		case len(data) > maxStateBytes:
			t.Fatalf("accepted %d bytes", len(data))
		case s.Size < 0 || s.Size > MaxSize || s.PieceSize < MinPieceSize || s.PieceSize > MaxPieceSize:
			t.Fatalf("accepted size %d, piece size %d", s.Size, s.PieceSize)
		case n > MaxPieces || !bitmap(s.Done).fits(int(n)):
			t.Fatalf("accepted %d pieces with a %d-byte bitmap", n, len(s.Done))
		}
		for i := int(n); i < len(s.Done)*8; i++ {
			if bitmap(s.Done).has(i) {
				t.Fatalf("piece %d of %d marked done", i, n)
			}
		}
		// What is accepted survives a round trip.
		again, err := decodeState(encoded(t, s))
		if err != nil {
			t.Fatalf("re-encoded state refused: %v", err)
		}
		a, _ := json.Marshal(again)
		b, _ := json.Marshal(s)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed %s into %s", b, a)
		}
	})
}
