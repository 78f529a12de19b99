package testutil

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FlipSignatureBit returns tok, a JWT, with one bit of its decoded signature
// flipped and the signature re-encoded canonically: a well-formed token
// whose signature no longer matches. (Changing the encoded characters
// instead may only touch padding bits and leave the same token.)
func FlipSignatureBit(t testing.TB, tok string) string {
	t.Helper()
	head, sig := splitSignature(t, tok)
	b, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		t.Fatalf("token signature is not canonical base64url: %v", err)
	}
	b[len(b)/2] ^= 0x01
	return head + base64.RawURLEncoding.EncodeToString(b)
}

// NonCanonical returns tok, a JWT, with its signature's last character
// changed so that it decodes to the same bytes as before: the same token in
// a non-canonical encoding. It fails the test when the signature's length
// leaves no padding bits to set (never for Ed25519's 64 bytes, whose last
// character carries 2 bits and 4 padding bits).
func NonCanonical(t testing.TB, tok string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	head, sig := splitSignature(t, tok)
	if len(sig)%4 == 0 {
		t.Fatalf("a signature of %d characters has no padding bits", len(sig))
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	if last < 0 {
		t.Fatalf("signature ends in %q, not base64url", sig[len(sig)-1])
	}
	// The lowest bit of the last character is padding whenever the
	// encoding is unpadded and not a multiple of 4 characters.
	other := sig[:len(sig)-1] + string(alphabet[last^0x01])
	return head + other
}

func splitSignature(t testing.TB, tok string) (head, sig string) {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || strings.Count(tok, ".") != 2 {
		t.Fatalf("not a JWT: %d dots", strings.Count(tok, "."))
	}
	return tok[:i+1], tok[i+1:]
}
