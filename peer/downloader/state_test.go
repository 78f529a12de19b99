package downloader

import (
	"bytes"
	"hash/crc32"
	"strings"
	"testing"
)

// testContent is a 11-piece content (1 MiB pieces).
func testContent() content {
	return content{
		t:     Target{SHA256: strings.Repeat("a", 64), Size: 10<<20 + 5, PieceSize: 1 << 20, PieceRoot: strings.Repeat("b", 64)},
		psize: 1 << 20,
		n:     11,
	}
}

// stateFile is a whole state file of c whose record k (0 or 1) is of
// generation gen with done, and whose other record is empty.
func stateFile(c content, k int, gen uint64, done bitmap) []byte {
	rs := recordSize(c.n)
	data := make([]byte, 2*rs)
	c.encodeRecord(data[int64(k)*rs:(int64(k)+1)*rs], gen, done)
	return data
}

func TestStateRecords(t *testing.T) {
	t.Parallel()
	c := testContent()
	rs := recordSize(c.n)
	if rs != recordAlign {
		t.Fatalf("record of 11 pieces is %d bytes, want one page", rs)
	}
	older, newer := bitmap{0b101, 0}, bitmap{0b111, 0b100}
	both := stateFile(c, 1, 7, older)
	c.encodeRecord(both[:rs], 8, newer)

	other := testContent()
	other.t.SHA256 = strings.Repeat("c", 64)
	otherRoot := testContent()
	otherRoot.t.PieceRoot = strings.Repeat("d", 64)
	otherSize := testContent()
	otherSize.t.Size--

	tests := []struct {
		name string
		data []byte
		gen  uint64
		done bitmap // nil: not usable
	}{
		{"one record", stateFile(c, 0, 1, older), 1, older},
		{"the other record", stateFile(c, 1, 2, older), 2, older},
		{"the newer of two", both, 8, newer},
		{"newer torn: the older", func() []byte {
			d := bytes.Clone(both)
			d[recordHeader] ^= 0xff // a bit of the bitmap changed, as a torn write leaves it
			return d
		}(), 7, older},
		{"newer half written: the older", func() []byte {
			d := bytes.Clone(both)
			clear(d[recordHeader/2 : rs])
			return d
		}(), 7, older},
		{"both torn", func() []byte {
			d := bytes.Clone(both)
			d[20] ^= 1
			d[rs+20] ^= 1
			return d
		}(), 0, nil},
		{"empty (reserved, never written)", make([]byte, 2*rs), 0, nil},
		{"another sha256", stateFile(other, 0, 1, older), 0, nil},
		{"another piece root", stateFile(otherRoot, 0, 1, older), 0, nil},
		{"another size", stateFile(otherSize, 0, 1, older), 0, nil},
		{"a piece past the last one", stateFile(c, 0, 1, bitmap{0, 0b1000}), 0, nil},
		{"short file", stateFile(c, 0, 1, older)[:rs], 0, nil},
		{"long file", append(stateFile(c, 0, 1, older), 0), 0, nil},
		{"another format", func() []byte {
			d := stateFile(c, 0, 1, older)
			d[7] = 1
			return d
		}(), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gen, done, ok := c.decodeState(tt.data)
			if ok != (tt.done != nil) || gen != tt.gen || !done.equal(tt.done) {
				t.Fatalf("decodeState = %d, %08b, %v; want %d, %08b", gen, done, ok, tt.gen, tt.done)
			}
		})
	}
}

func TestStateSizes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 8, 9, 32000, MaxPieces} {
		rs := recordSize(n)
		if rs%recordAlign != 0 || rs < int64(recordHeader+(n+7)/8+4) {
			t.Errorf("recordSize(%d) = %d", n, rs)
		}
	}
	if stateSize(MaxPieces) != maxStateBytes {
		t.Errorf("stateSize(MaxPieces) = %d, maxStateBytes %d", stateSize(MaxPieces), maxStateBytes)
	}
}

// FuzzDecodeState checks that a state file, which anyone who can write the
// output folder may have written, never panics, never marks a piece past
// the last one, and is used only when one of its records is exactly what
// encodeRecord writes for this content.
func FuzzDecodeState(f *testing.F) {
	c := testContent()
	f.Add(stateFile(c, 0, 1, bitmap{0b101, 0}))
	f.Add(stateFile(c, 1, 1<<63, bitmap{0xff, 0b111}))
	f.Add(make([]byte, stateSize(c.n)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		gen, done, ok := c.decodeState(data)
		if !ok {
			return
		}
		if len(done) != (c.n+7)/8 || done[len(done)-1]>>(c.n%8) != 0 {
			t.Fatalf("accepted bitmap %08b for %d pieces", done, c.n)
		}
		rs := recordSize(c.n)
		want := make([]byte, rs)
		c.encodeRecord(want, gen, done)
		used := recordHeader + (c.n+7)/8 + 4 // the padding after it is not read
		if !bytes.Equal(data[:used], want[:used]) && !bytes.Equal(data[rs:rs+int64(used)], want[:used]) {
			t.Fatal("accepted a record encodeRecord does not write")
		}
	})
}

// TestStateChecksumIsCRC32C pins the records' checksum to CRC-32C (the
// table is built on first use now, not in init): state files written by
// earlier versions must still decode. 0xe3069283 is CRC-32C's check value
// for "123456789" (RFC 3720, B.4).
func TestStateChecksumIsCRC32C(t *testing.T) {
	t.Parallel()
	if got := crc32.Checksum([]byte("123456789"), castagnoli()); got != 0xe3069283 {
		t.Fatalf("checksum %#x, want CRC-32C's 0xe3069283", got)
	}
	if first, again := castagnoli(), castagnoli(); first != again {
		t.Fatal("the table is built again on each use")
	}
}
