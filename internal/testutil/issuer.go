package testutil

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/token"
)

// Issuer signs access tokens as a directory does (its own Ed25519 key, the
// default issuer), for tests of what checks them (a peer's transfer service,
// the downloader) without running a directory.
type Issuer struct {
	// Verifier checks tokens as a peer checks its directory's: it knows
	// this issuer's public key only, under KeyID.
	Verifier *token.Verifier

	signer *token.Signer
}

// NewIssuer returns an Issuer with a new key named keyID. Two issuers with
// the same keyID have different keys: one forges the other's tokens.
func NewIssuer(t testing.TB, keyID string) *Issuer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{
		Verifier: token.NewVerifier(token.DefaultIssuer, []token.PublicKey{{ID: keyID, Key: pub}}),
		signer:   token.NewSigner(keyID, priv, token.DefaultIssuer),
	}
}

// Sign returns a token for c issued at now and valid for ttl.
func (i *Issuer) Sign(t testing.TB, c token.Claims, now time.Time, ttl time.Duration) string {
	t.Helper()
	raw, _, err := i.signer.Sign(c, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
