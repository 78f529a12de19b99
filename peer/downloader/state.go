package downloader

import (
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"sync"
)

// The state file (<dest>.peerhub-state) records which pieces of the partial
// file beside it are written. It is created at its full size when a
// download starts (reserved like the partial file) and then only
// overwritten in place, so recording progress needs no new disk block: a
// disk that fills during a download cannot stop it from saving where it is.
//
// It holds two records of recordSize(n) bytes each, written alternately;
// each carries a generation (one more than the last) and a CRC-32C of its
// bytes, so a record torn by a crash while it was written is recognised
// and the other one, one save older, is used. Nothing is synced when a
// record is written: after a power loss the state may claim pieces whose
// data never reached the disk, and that only costs fetching them again,
// because every resumed piece is checked against its hash before it counts
// (see hash.go). The file sits in a folder others may write to, so it is
// read as untrusted input: only a file of exactly the expected size is
// read, and a record counts only if it describes the very content being
// downloaded.
//
// A record, little-endian:
//
//	magic      8 bytes  "phstate" and the format version
//	generation 8        uint64
//	size       8        int64, the content's size in bytes
//	piece size 8        int64, in bytes
//	sha256     32       the content's SHA-256
//	piece root 32       the SHA-256 of the piece hashes
//	pieces     4        uint32, the piece count n
//	done       (n+7)/8  piece i at bit i%8 of byte i/8
//	crc        4        CRC-32C (Castagnoli) of everything before it
//	padding    to recordSize(n), zero
var stateMagic = [8]byte{'p', 'h', 's', 't', 'a', 't', 'e', 2}

// recordHeader is the length of a record before its bitmap, in bytes.
const recordHeader = 8 + 8 + 8 + 8 + 32 + 32 + 4

// recordAlign is what a record's length is rounded up to, in bytes: a
// page, so that a torn write of one record never touches the other.
const recordAlign = 4096

// maxStateBytes is the size of the largest state file, in bytes: two
// records of MaxPieces pieces.
const maxStateBytes = 2 * ((recordHeader + MaxPieces/8 + 4 + recordAlign - 1) / recordAlign * recordAlign)

// castagnoli is the CRC-32C table of the records' checksum, built on first
// use: its first build costs 0.15–0.45 ms, which every start of the
// binary paid in init, also the many that never save a state (a get
// shorter than the commit interval, every other command).
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// recordSize is the length in bytes of one record for n pieces.
func recordSize(n int) int64 {
	raw := int64(recordHeader + (n+7)/8 + 4)
	return (raw + recordAlign - 1) / recordAlign * recordAlign
}

// stateSize is the length in bytes of a state file for n pieces.
func stateSize(n int) int64 { return 2 * recordSize(n) }

// bitmap is a set of piece indexes.
type bitmap []byte

func newBitmap(n int) bitmap         { return make(bitmap, (n+7)/8) }
func (b bitmap) has(i int) bool      { return b[i/8]&(1<<(i%8)) != 0 }
func (b bitmap) set(i int)           { b[i/8] |= 1 << (i % 8) }
func (b bitmap) clear(i int)         { b[i/8] &^= 1 << (i % 8) }
func (b bitmap) equal(o bitmap) bool { return string(b) == string(o) }

// content is what a state record must describe to be used: the download's
// target, piece size and piece count.
type content struct {
	t     Target
	psize int64
	n     int
}

// encodeRecord writes the record of generation gen with done into buf
// (recordSize(c.n) bytes long, padding included).
func (c content) encodeRecord(buf []byte, gen uint64, done bitmap) {
	clear(buf)
	c.encodeHeader(buf, gen)
	end := recordHeader + copy(buf[recordHeader:], done)
	binary.LittleEndian.PutUint32(buf[end:], crc32.Checksum(buf[:end], castagnoli()))
}

// encodeHeader writes a record's header of generation gen into buf. The
// target's hex digits were checked by checkTarget.
func (c content) encodeHeader(buf []byte, gen uint64) {
	le := binary.LittleEndian
	copy(buf, stateMagic[:])
	le.PutUint64(buf[8:], gen)
	le.PutUint64(buf[16:], uint64(c.t.Size))
	le.PutUint64(buf[24:], uint64(c.psize))
	hex.Decode(buf[32:64], []byte(c.t.SHA256))
	hex.Decode(buf[64:96], []byte(c.t.PieceRoot))
	le.PutUint32(buf[96:], uint32(c.n))
}

// decodeRecord reads one record: its generation and bitmap, or ok false
// when it is torn, empty, of another format or of another content, or marks
// a piece past the last one.
func (c content) decodeRecord(buf []byte) (gen uint64, done bitmap, ok bool) {
	end := recordHeader + (c.n+7)/8
	if len(buf) < end+4 {
		return 0, nil, false
	}
	le := binary.LittleEndian
	if le.Uint32(buf[end:]) != crc32.Checksum(buf[:end], castagnoli()) {
		return 0, nil, false
	}
	var want [recordHeader]byte
	c.encodeHeader(want[:], 0)
	// Everything but the generation must be this content's.
	if string(buf[:8]) != string(want[:8]) || string(buf[16:recordHeader]) != string(want[16:]) {
		return 0, nil, false
	}
	done = bitmap(buf[recordHeader:end])
	if c.n%8 != 0 && done[len(done)-1]>>(c.n%8) != 0 {
		return 0, nil, false
	}
	return le.Uint64(buf[8:]), done, true
}

// decodeState picks, of a state file's two records, the valid one of the
// higher generation; ok is false when neither is valid. data must be the
// whole file, stateSize(c.n) bytes.
func (c content) decodeState(data []byte) (gen uint64, done bitmap, ok bool) {
	rs := recordSize(c.n)
	if int64(len(data)) != 2*rs {
		return 0, nil, false
	}
	for k := range int64(2) {
		g, d, valid := c.decodeRecord(data[k*rs : (k+1)*rs])
		if valid && (!ok || g > gen) {
			gen, done, ok = g, d, true
		}
	}
	return gen, done, ok
}
