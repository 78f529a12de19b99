// Package pagetoken owns the wire format of the stores' page tokens: an
// opaque, URL-safe string holding a format version byte, a hash binding the
// token to the listing it continues, and a store-defined position. Tokens
// hold no secret and no replica state, so any replica of a store continues
// a listing another one began.
package pagetoken

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/peerhub/peerhub/server/store"
)

// headerLen is the length, in bytes, of a token's header: the version byte
// and the big-endian query hash.
const headerLen = 1 + 4

// idLen is the length, in bytes, of a position made by EncodeID: a
// big-endian uint64.
const idLen = 8

// Format is a store's token format, named by the version byte that starts
// every token it issues: a store refuses tokens of another store or of a
// later format of its own.
type Format byte

// Hash binds a page token to the listing it continues (a listing's name and
// its parameters), so that a token of another query is refused instead of
// silently skipping results.
func Hash(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// Encode makes an opaque page token: version, query hash bind, position pos.
func (f Format) Encode(bind uint32, pos []byte) string {
	b := make([]byte, 0, headerLen+len(pos))
	b = append(b, byte(f))
	b = binary.BigEndian.AppendUint32(b, bind)
	b = append(b, pos...)
	return encoding.EncodeToString(b)
}

// encoding is the tokens' base64.
var encoding = base64.RawURLEncoding

// Decode returns the position in tok, or an error wrapping
// store.ErrInvalidArgument if tok is not a token of format f for the query
// bind. Only the token Encode makes for a position is accepted.
func (f Format) Decode(tok string, bind uint32) ([]byte, error) {
	b, err := encoding.DecodeString(tok)
	// The decoder skips newlines and ignores the unused bits of the last
	// character: a token that is not what Encode makes of its bytes is
	// refused, so that a page has one token.
	if err != nil || encoding.EncodeToString(b) != tok || len(b) < headerLen || b[0] != byte(f) || binary.BigEndian.Uint32(b[1:headerLen]) != bind {
		return nil, fmt.Errorf("page token %q: %w", tok, store.ErrInvalidArgument)
	}
	return b[headerLen:], nil
}

// EncodeID makes a page token whose position is a row ID, id >= 0.
func (f Format) EncodeID(bind uint32, id int64) string {
	return f.Encode(bind, binary.BigEndian.AppendUint64(nil, uint64(id)))
}

// DecodeID returns the row ID in a token made by EncodeID, 0 for no token
// (tok ""), or an error wrapping store.ErrInvalidArgument if tok is not a
// token of format f for the query bind.
func (f Format) DecodeID(tok string, bind uint32) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	pos, err := f.Decode(tok, bind)
	if err != nil {
		return 0, err
	}
	if len(pos) != idLen || int64(binary.BigEndian.Uint64(pos)) < 0 {
		return 0, fmt.Errorf("page token %q: %w", tok, store.ErrInvalidArgument)
	}
	return int64(binary.BigEndian.Uint64(pos)), nil
}

// AppendString appends s, prefixed by its length in bytes (a uvarint), to
// the position b.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadString reads a string written by AppendString from the start of the
// position b, and returns it with the rest of b. The length must be in its
// shortest form, as AppendString writes it.
func ReadString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) || k != len(binary.AppendUvarint(nil, n)) {
		return "", nil, errors.New("malformed token")
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
