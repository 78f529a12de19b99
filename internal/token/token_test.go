package token_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
)

// fixture is a signer and a verifier that trusts it, on one clock.
type fixture struct {
	clock    *testutil.Clock
	signer   *token.Signer
	verifier *token.Verifier
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := testutil.NewClock()
	return fixture{
		clock:    c,
		signer:   token.NewSigner("k1", priv, token.DefaultIssuer),
		verifier: token.NewVerifier(token.DefaultIssuer, []token.PublicKey{{ID: "k1", Key: pub}}, token.WithClock(c.Now)),
	}
}

func (f fixture) sign(t testing.TB) string {
	t.Helper()
	c := token.Claims{SessionID: "s1", Peer: "p1"}
	c.Subject = "alice"
	tok, _, err := f.signer.Sign(c, f.clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyAcceptsOnlyCanonicalEncoding(t *testing.T) {
	f := newFixture(t)
	tok := f.sign(t)
	got, err := f.verifier.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("live token: %v", err)
	}
	if got.Subject != "alice" || got.SessionID != "s1" || got.Peer != "p1" || got.ID == "" {
		t.Fatalf("claims = %+v", got)
	}

	other := testutil.NonCanonical(t, tok)
	if other == tok {
		t.Fatal("NonCanonical returned the token unchanged")
	}
	// The re-encoding is the very same token to a lenient decoder...
	sig := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s[strings.LastIndexByte(s, '.')+1:])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if string(sig(tok)) != string(sig(other)) {
		t.Fatal("the non-canonical form decodes to other bytes: the test proves nothing")
	}
	// ...and must be refused.
	if _, err := f.verifier.Verify(t.Context(), other); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("non-canonical encoding: err = %v, want ErrInvalid", err)
	}
	if _, err := f.verifier.Verify(t.Context(), testutil.FlipSignatureBit(t, tok)); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("flipped signature bit: err = %v, want ErrInvalid", err)
	}
}

func TestSignGivesEachTokenItsOwnID(t *testing.T) {
	f := newFixture(t)
	a, _ := f.verifier.Verify(t.Context(), f.sign(t))
	b, _ := f.verifier.Verify(t.Context(), f.sign(t))
	if a.ID == "" || a.ID == b.ID {
		t.Fatalf("token ids %q and %q: want two different non-empty ids", a.ID, b.ID)
	}
}

// FuzzVerify feeds arbitrary strings and mutations of a live token to the
// verifier: it must never panic, and must accept nothing but the live token
// itself (byte for byte).
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	live := fx.sign(f)
	f.Add(live)
	f.Add(testutil.NonCanonical(f, live))
	f.Add(testutil.FlipSignatureBit(f, live))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(live[:len(live)-1])
	f.Add(live + "=")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.verifier.Verify(t.Context(), raw)
		if err == nil && raw != live {
			t.Fatalf("accepted %q (claims %+v), which is not the live token", raw, c)
		}
		if err != nil && !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}
