// Package identity owns what a peerhub role's TLS identity is: a key and a
// self-signed certificate kept in its state folder, and the pin that names
// it, the SHA-256 of the certificate's SubjectPublicKeyInfo in the form
// curl's --pinnedpubkey accepts ("sha256//" + standard base64). A pin names
// the key, not the certificate: renewing the certificate over the same key
// keeps the pin, and nothing else (a CA, a host name, an expiry date) is
// needed to trust a pinned peer.
package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// pinPrefix is the hash-algorithm prefix of a pin, curl's spelling.
const pinPrefix = "sha256//"

// pinEncodedLen is the length of the base64 of a SHA-256 (32 bytes) with
// padding, in characters.
const pinEncodedLen = 44

// Pin is "sha256//" followed by the standard (padded) base64 of the SHA-256
// of a certificate's DER-encoded SubjectPublicKeyInfo: the form of curl's
// --pinnedpubkey. The zero Pin is "no pin".
type Pin string

// ErrBadPin is wrapped by the errors of ParsePin.
var ErrBadPin = errors.New("not a pin")

// PinOf returns the pin of cert's public key.
func PinOf(cert *x509.Certificate) Pin {
	return PinOfSPKI(cert.RawSubjectPublicKeyInfo)
}

// PinOfSPKI returns the pin of a DER-encoded SubjectPublicKeyInfo.
func PinOfSPKI(spki []byte) Pin {
	sum := sha256.Sum256(spki)
	return Pin(pinPrefix + base64.StdEncoding.EncodeToString(sum[:]))
}

// ParsePin checks that s is a pin in curl's form and returns it.
// Errors: wrapping ErrBadPin, saying what is wrong.
func ParsePin(s string) (Pin, error) {
	rest, ok := strings.CutPrefix(s, pinPrefix)
	if !ok {
		return "", fmt.Errorf("%w: %q does not start with %q", ErrBadPin, s, pinPrefix)
	}
	if len(rest) != pinEncodedLen {
		return "", fmt.Errorf("%w: %q: want %d base64 characters after %q", ErrBadPin, s, pinEncodedLen, pinPrefix)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("%w: %q: the part after %q is not the base64 of a SHA-256", ErrBadPin, s, pinPrefix)
	}
	return Pin(s), nil
}

// String returns the pin as curl writes it.
func (p Pin) String() string { return string(p) }

// PinOfFile returns the pin of the first certificate in the PEM file path.
// Errors: the file cannot be read (wrapping fs.ErrNotExist if missing) or
// holds no certificate.
func PinOfFile(path string) (Pin, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return PinOf(cert), nil
}
