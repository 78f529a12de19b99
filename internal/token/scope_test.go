package token_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
)

// TestVerifyForChecksScopeAndAudience signs one token of each scope and
// checks that each call's need accepts exactly the tokens meant for it, and
// that a refusal says what the call needs.
func TestVerifyForChecksScopeAndAudience(t *testing.T) {
	f := newFixture(t)
	sign := func(scope, aud string) string {
		tok, _, err := f.signer.Sign(token.Scoped(scope, aud, "alice", "s1", ""), f.clock.Now(), token.TransferTTL)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dir := token.DefaultIssuer
	toks := map[string]string{
		"session":       sign(token.ScopeSession, dir),
		"read":          sign(token.ScopeRead, dir),
		"download p1":   sign(token.ScopeDownload, "p1"),
		"download p2":   sign(token.ScopeDownload, "p2"),
		"upload p1":     sign(token.ScopeUpload, "p1"),
		"no scope":      sign("", dir),
		"read for a p1": sign(token.ScopeRead, "p1"),
	}
	needs := []struct {
		name   string
		need   token.Need
		accept []string
	}{
		{"directory, any call", token.Need{Scopes: []string{token.ScopeSession}, Audience: dir}, []string{"session"}},
		{"directory, read call", token.Need{Scopes: []string{token.ScopeSession, token.ScopeRead}, Audience: dir}, []string{"session", "read"}},
		{"p1 download", token.Need{Scopes: []string{token.ScopeDownload}, Audience: "p1"}, []string{"download p1"}},
		{"p1 upload", token.Need{Scopes: []string{token.ScopeUpload}, Audience: "p1"}, []string{"upload p1"}},
	}
	for _, n := range needs {
		for name, tok := range toks {
			c, err := f.verifier.VerifyFor(t.Context(), tok, n.need)
			want := false
			for _, a := range n.accept {
				want = want || a == name
			}
			switch {
			case want && err != nil:
				t.Errorf("%s: %s token refused: %v", n.name, name, err)
			case want && (c.Subject != "alice" || c.SessionID != "s1"):
				t.Errorf("%s: %s token: claims %+v", n.name, name, c)
			case !want && err == nil:
				t.Errorf("%s: %s token accepted", n.name, name)
			case !want && !errors.Is(err, token.ErrNotForThis):
				t.Errorf("%s: %s token: error %v does not wrap ErrNotForThis", n.name, name, err)
			case !want && !errors.Is(err, token.ErrInvalid):
				t.Errorf("%s: %s token: error %v does not wrap ErrInvalid", n.name, name, err)
			case !want && !strings.Contains(err.Error(), "needs a "+strings.Join(n.need.Scopes, " or ")+" token for "+n.need.Audience):
				t.Errorf("%s: %s token: error %q does not say what the call needs", n.name, name, err)
			case !want && strings.Contains(err.Error(), tok):
				t.Errorf("%s: the error quotes the token", n.name)
			}
		}
	}
}

// TestMaxLifetime checks that a verifier with a lifetime cap refuses a
// token issued for longer, however recent, and accepts one at the cap.
func TestMaxLifetime(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clock := testutil.NewClock()
	signer := token.NewSigner("k1", priv, token.DefaultIssuer)
	capped := token.NewVerifier(token.DefaultIssuer, []token.PublicKey{{ID: "k1", Key: pub}},
		token.WithClock(clock.Now), token.WithMaxLifetime(token.MaxLifetime))
	uncapped := token.NewVerifier(token.DefaultIssuer, []token.PublicKey{{ID: "k1", Key: pub}}, token.WithClock(clock.Now))
	c := token.Scoped(token.ScopeDownload, "p1", "alice", "s1", "")
	for _, tt := range []struct {
		ttl  time.Duration
		want bool
	}{
		{token.TransferTTL, true},
		{token.MaxLifetime, true},
		{token.MaxLifetime + time.Second, false},
		{24 * time.Hour, false},
	} {
		tok, _, err := signer.Sign(c, clock.Now(), tt.ttl)
		if err != nil {
			t.Fatal(err)
		}
		_, err = capped.Verify(t.Context(), tok)
		if got := err == nil; got != tt.want {
			t.Errorf("lifetime %s: accepted = %v (%v), want %v", tt.ttl, got, err, tt.want)
		}
		if err != nil && (!errors.Is(err, token.ErrInvalid) || !strings.Contains(err.Error(), "at most "+token.MaxLifetime.String())) {
			t.Errorf("lifetime %s: error %q: want ErrInvalid naming the cap", tt.ttl, err)
		}
		if _, err := uncapped.Verify(t.Context(), tok); err != nil {
			t.Errorf("lifetime %s: refused without a cap: %v", tt.ttl, err)
		}
	}
	// A token for another call is refused as such, not for its lifetime,
	// so the caller learns which token to send.
	session, _, err := signer.Sign(token.Scoped(token.ScopeSession, token.DefaultIssuer, "alice", "s1", ""), clock.Now(), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = capped.VerifyFor(t.Context(), session, token.Need{Scopes: []string{token.ScopeDownload}, Audience: "p1"})
	if !errors.Is(err, token.ErrNotForThis) {
		t.Errorf("session token at a capped download call: %v, want ErrNotForThis", err)
	}
}

// TestScopedClaimsRoundTrip checks that scope and audience survive signing
// and verification.
func TestScopedClaimsRoundTrip(t *testing.T) {
	f := newFixture(t)
	tok, exp, err := f.signer.Sign(token.Scoped(token.ScopeUpload, "bob", "alice", "s9", "alice-laptop"), f.clock.Now(), token.TransferTTL)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(token.TransferTTL); !exp.Equal(want) {
		t.Errorf("expiry %v, want %v", exp, want)
	}
	c, err := f.verifier.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Scope != token.ScopeUpload || !c.HasAudience("bob") || c.HasAudience("alice") || c.Subject != "alice" || c.SessionID != "s9" || c.Peer != "alice-laptop" {
		t.Errorf("claims %+v", c)
	}
}
