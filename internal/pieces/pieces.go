// Package pieces owns peerhub's content hashing: how a file is cut into
// fixed-size pieces, how the pieces and the whole content are hashed, and how
// a downloader checks a piece it received.
//
// A file of n bytes has Count(n) pieces of Size bytes, the last one shorter
// (an empty file has none). Each piece is identified by its SHA-256; the
// piece list is identified by its root, the SHA-256 of the concatenated piece
// hashes; the content is identified by the SHA-256 of all of it. The peer's
// index, the transfer service and the downloader all use this package so that
// they agree on these numbers.
package pieces

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// Size is the length in bytes of every piece but the last (1 MiB): large
// enough that the piece list of a 1 TB file is 32 MB, small enough that a
// corrupt piece costs little to fetch again.
const Size = 1 << 20

// HashLen is the length in bytes of a SHA-256 hash.
const HashLen = sha256.Size

// Sum is the result of hashing a content with Hash.
type Sum struct {
	// SHA256 is the SHA-256 of the whole content.
	SHA256 [32]byte
	// Pieces are the SHA-256 hashes of the pieces, in order.
	Pieces [][32]byte
	// Root is Root(Pieces).
	Root [32]byte
	// Size is the content's length in bytes.
	Size int64
}

// emptySHA256 is the SHA-256 of no bytes, both the hash and the piece root of
// an empty content.
var emptySHA256 = sha256.Sum256(nil)

// nbuf is how many piece buffers one Hash call may use: two, so the caller
// reads and hashes one piece while the whole-content hasher still consumes the
// previous one.
const nbuf = 2

// buffers holds one Hash call's piece buffers. They are allocated on first
// use, so hashing a small file only ever costs one buffer.
type buffers struct {
	b [nbuf][]byte
}

// get returns buffer i, allocating it the first time.
func (bs *buffers) get(i int) []byte {
	if bs.b[i] == nil {
		bs.b[i] = make([]byte, Size)
	}
	return bs.b[i]
}

// pool recycles piece buffers across Hash calls, so hashing many files
// allocates nbuf*Size bytes per concurrent caller, not per file.
var pool = sync.Pool{New: func() any { return new(buffers) }}

// Hash reads r to its end once and returns the SHA-256 of the whole content
// and of each piece. It uses constant memory (at most two piece buffers,
// pooled across calls).
//
// Two SHA-256 computations are needed over every byte (whole content and
// pieces), so when the content has more than one piece the whole-content hash
// runs on its own goroutine while the caller hashes the pieces: with a spare
// core the wall time is about that of a single SHA-256 pass. Content of at
// most one piece is hashed once, since its only piece hash is also its
// SHA-256.
//
// A read error is returned wrapped, with the piece it happened in.
func Hash(r io.Reader) (Sum, error) {
	bs := pool.Get().(*buffers)
	defer pool.Put(bs)

	first := bs.get(0)
	n, err := io.ReadFull(r, first)
	switch {
	case err == io.EOF:
		return Sum{SHA256: emptySHA256, Root: emptySHA256}, nil
	case err == io.ErrUnexpectedEOF:
		return single(first[:n]), nil
	case err != nil:
		return Sum{}, fmt.Errorf("read piece 0: %w", err)
	}
	// A full first piece: read the second before deciding whether a second
	// goroutine is worth it.
	second := bs.get(1)
	m, err := io.ReadFull(r, second)
	switch {
	case err == io.EOF:
		return single(first), nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return Sum{}, fmt.Errorf("read piece 1: %w", err)
	}
	last := err == io.ErrUnexpectedEOF
	return hashParallel(r, first, second[:m], last)
}

// single is the Sum of a content that fits in one piece.
func single(p []byte) Sum {
	h := sha256.Sum256(p)
	pcs := [][32]byte{h}
	return Sum{SHA256: h, Pieces: pcs, Root: Root(pcs), Size: int64(len(p))}
}

// hashParallel hashes a content of at least two pieces, the first two of
// which are already read into first and second (last says second is the
// final piece). The whole-content hash runs on a second goroutine, fed the
// same buffers the caller hashes piece by piece; a buffer is reused only
// after both are done with it. (Moving the reads to a third stage, with a
// third buffer, was measured and did not help: reading from the page cache
// is cheap next to SHA-256.)
func hashParallel(r io.Reader, first, second []byte, last bool) (Sum, error) {
	work := make(chan []byte, nbuf)
	free := make(chan []byte, nbuf)
	whole := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		for p := range work {
			h.Write(p)
			free <- p[:cap(p)]
		}
		var s [32]byte
		h.Sum(s[:0])
		whole <- s
	}()

	size := int64(len(first) + len(second))
	pcs := make([][32]byte, 0, 8)
	work <- first
	pcs = append(pcs, sha256.Sum256(first))
	work <- second
	pcs = append(pcs, sha256.Sum256(second))

	var rerr error
	for !last {
		buf := <-free
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			work <- buf[:n]
			pcs = append(pcs, sha256.Sum256(buf[:n]))
			size += int64(n)
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			last = true
		case err != nil:
			rerr = fmt.Errorf("read piece %d: %w", len(pcs), err)
			last = true
		}
	}
	close(work)
	// Once the goroutine has sent its sum it holds no buffer any more, so
	// the caller may return them to the pool.
	s := <-whole
	if rerr != nil {
		return Sum{}, rerr
	}
	return Sum{SHA256: s, Pieces: pcs, Root: Root(pcs), Size: size}, nil
}

// hashSerial is Hash on a single goroutine, hashing each buffer twice in a
// row. It is kept to measure what the second goroutine buys (BenchmarkHash)
// and to cross-check Hash in tests.
func hashSerial(r io.Reader) (Sum, error) {
	bs := pool.Get().(*buffers)
	defer pool.Put(bs)
	buf := bs.get(0)
	h := sha256.New()
	var s Sum
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			h.Write(buf[:n])
			s.Pieces = append(s.Pieces, sha256.Sum256(buf[:n]))
			s.Size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return Sum{}, fmt.Errorf("read piece %d: %w", len(s.Pieces), err)
		}
	}
	h.Sum(s.SHA256[:0])
	s.Root = Root(s.Pieces)
	return s, nil
}

// Root returns the piece root of a piece list: the SHA-256 of the 32-byte
// piece hashes concatenated in order. For no pieces it is the SHA-256 of the
// empty string.
func Root(pieces [][32]byte) [32]byte {
	h := sha256.New()
	for i := range pieces {
		h.Write(pieces[i][:])
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// Count returns how many pieces a content of size bytes has: zero for an
// empty (or negative) size.
func Count(size int64) int {
	if size <= 0 {
		return 0
	}
	return int((size + Size - 1) / Size)
}

// Hex returns h as 64 lowercase hexadecimal digits, the form the protocol
// uses for sha256 and piece_root.
func Hex(h [32]byte) string {
	return hex.EncodeToString(h[:])
}

// ParseHex parses 64 hexadecimal digits (either case) into a hash.
func ParseHex(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 2*HashLen {
		return h, fmt.Errorf("parse hash: %d hex digits, want %d", len(s), 2*HashLen)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("parse hash %q: %w", s, err)
	}
	return h, nil
}

// FromBytes converts a hash received as bytes (e.g. a protobuf piece_hashes
// element) to an array, checking its length.
func FromBytes(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) != HashLen {
		return h, fmt.Errorf("hash of %d bytes, want %d", len(b), HashLen)
	}
	copy(h[:], b)
	return h, nil
}
