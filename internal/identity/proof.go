package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A peer proves at login that it holds the key of the pin it presents: it
// signs, with its TLS key, a message that binds the login (account, peer
// name, advertised address) to a time; the directory verifies the signature
// with the public key sent beside it, whose pin it then binds to the peer's
// name. A proof is good for ProofMaxAge either side of the directory's
// clock; replaying one within that window also needs the account's
// password, which the same login carries.

// ProofMaxAge is how far a proof's time may be from the verifier's clock.
const ProofMaxAge = 5 * time.Minute

// proofContext separates login proofs from any other use of the key.
const proofContext = "peerhub login key proof v1"

// ErrBadProof is wrapped by VerifyLoginProof's errors.
var ErrBadProof = errors.New("the key proof does not verify")

// LoginProofMessage is the message a login proof signs.
func LoginProofMessage(username, peerName, advertise string, at time.Time) []byte {
	msg := []byte(proofContext)
	for _, f := range []string{username, peerName, advertise, strconv.FormatInt(at.UnixNano(), 10)} {
		msg = append(msg, 0)
		msg = append(msg, f...)
	}
	return msg
}

// SignLoginProof signs msg with cert's key and returns the DER
// SubjectPublicKeyInfo of the key and the signature (ECDSA: ASN.1 over
// SHA-256; RSA: PSS over SHA-256; Ed25519: over msg).
// Errors: a key that cannot sign, or a certificate that does not parse.
func SignLoginProof(cert tls.Certificate, msg []byte) (spki, sig []byte, err error) {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return nil, nil, errors.New("no certificate to prove")
		}
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("parse TLS certificate: %w", err)
		}
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("TLS key %T cannot sign", cert.PrivateKey)
	}
	switch signer.Public().(type) {
	case ed25519.PublicKey:
		sig, err = signer.Sign(rand.Reader, msg, crypto.Hash(0))
	case *rsa.PublicKey:
		sum := sha256.Sum256(msg)
		sig, err = signer.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		sum := sha256.Sum256(msg)
		sig, err = signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sign login proof: %w", err)
	}
	return leaf.RawSubjectPublicKeyInfo, sig, nil
}

// VerifyLoginProof checks that sig is spki's signature of msg, made at a
// time within ProofMaxAge of now, and returns spki's pin.
// Errors: wrapping ErrBadProof.
func VerifyLoginProof(spki, msg, sig []byte, at, now time.Time) (Pin, error) {
	if d := now.Sub(at); d > ProofMaxAge || d < -ProofMaxAge {
		return "", fmt.Errorf("%w: signed at %s, more than %s from the directory's clock (%s): check the peer's clock", ErrBadProof, at.UTC().Format(time.RFC3339), ProofMaxAge, now.UTC().Format(time.RFC3339))
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return "", fmt.Errorf("%w: public key: %w", ErrBadProof, err)
	}
	sum := sha256.Sum256(msg)
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, sum[:], sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	default:
		return "", fmt.Errorf("%w: unsupported key type %T", ErrBadProof, pub)
	}
	if !ok {
		return "", fmt.Errorf("%w: wrong signature", ErrBadProof)
	}
	return PinOfSPKI(spki), nil
}
