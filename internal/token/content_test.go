package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/token"
)

// TestContentBinding signs download tokens bound to content A, and checks
// that a peer's need accepts one only for content A: not for content B, and
// not where the call does not name its content (the RPC routes), while an
// unbound token is good for any content.
func TestContentBinding(t *testing.T) {
	f := newFixture(t)
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	sign := func(sha string) string {
		c := token.Scoped(token.ScopeDownload, "p1", "alice", "s1", "")
		c.SHA256 = sha
		tok, _, err := f.signer.Sign(c, f.clock.Now(), token.TransferTTL)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	bound, unbound := sign(a), sign("")
	need := func(content string) token.Need {
		return token.Need{Scopes: []string{token.ScopeDownload}, Audience: "p1", Content: content}
	}
	c, err := f.verifier.VerifyFor(t.Context(), bound, need(a))
	if err != nil || c.SHA256 != a {
		t.Errorf("bound token for its content: %+v, %v", c, err)
	}
	for _, tc := range []struct{ name, content, msg string }{
		{"another content", b, "another content"},
		{"an RPC call", "", "/files/"},
	} {
		_, err := f.verifier.VerifyFor(t.Context(), bound, need(tc.content))
		if !errors.Is(err, token.ErrNotForThis) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("bound token at %s: %v, want ErrNotForThis naming %q", tc.name, err, tc.msg)
		}
	}
	for _, content := range []string{a, b, ""} {
		if _, err := f.verifier.VerifyFor(t.Context(), unbound, need(content)); err != nil {
			t.Errorf("unbound token for %q: %v", content, err)
		}
	}
}
