package testutil

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/token"
)

// IssuerKeyID is the key id of every Issuer's tokens: two Issuers sign
// under the same id with different keys, so one's tokens are forgeries to
// the other's Verifier.
const IssuerKeyID = "test-key"

// IssuerTTL is how long an Issuer's tokens are valid after they are issued.
const IssuerTTL = time.Hour

// Issuer issues tokens as a directory does (token.DefaultIssuer, a fresh
// Ed25519 key), for tests of what verifies them, e.g. a peer's PeerService.
type Issuer struct {
	signer *token.Signer
	// Verifier accepts the tokens this Issuer signs, and no other's.
	Verifier *token.Verifier
}

// NewIssuer returns an Issuer with a new key.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{
		signer:   token.NewSigner(IssuerKeyID, priv, token.DefaultIssuer),
		Verifier: token.NewVerifier(token.DefaultIssuer, []token.PublicKey{{ID: IssuerKeyID, Key: pub}}),
	}
}

// Token returns a token of user "tester" in session "test-session", issued
// at issued and valid for IssuerTTL from then.
func (i *Issuer) Token(t testing.TB, issued time.Time) string {
	t.Helper()
	c := token.Claims{SessionID: "test-session"}
	c.Subject = "tester"
	return i.Sign(t, c, issued, IssuerTTL)
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
