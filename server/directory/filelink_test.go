package directory_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
)

// TestIssueTokenLink asks for download tokens bound to a content and checks
// the "sha" claim, the link (the peer's address, the escaped name, the
// token in the query), and the requests refused.
func TestIssueTokenLink(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c)
	ctx := t.Context()
	for _, u := range []string{"ann", "bob"} {
		if err := d.AddUser(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	login(t, d, "ann", "ann-box")
	_, bob := login(t, d, "bob", "")
	verifier := token.NewVerifier(d.Info().Issuer, d.Info().Keys, token.WithClock(c.Now))
	sha := strings.Repeat("ab", 32)

	for _, tc := range []struct{ name, wantPath string }{
		{"Ünïcode song.ogg", "/files/" + sha + "/%C3%9Cn%C3%AFcode%20song.ogg"},
		{"", "/files/" + sha + "/" + sha},
	} {
		is, err := d.IssueToken(ctx, bob, directory.TokenRequest{Scope: token.ScopeDownload, Peer: "ann-box", SHA256: sha, Name: tc.name})
		if err != nil {
			t.Fatalf("link for %q: %v", tc.name, err)
		}
		claims, err := verifier.VerifyFor(ctx, is.Token, token.Need{Scopes: []string{token.ScopeDownload}, Audience: "ann-box", Content: sha})
		if err != nil || claims.SHA256 != sha {
			t.Errorf("link token: %+v, %v; want bound to %s", claims, err, sha)
		}
		u, err := url.Parse(is.Link)
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme+"://"+u.Host != "http://ann-box.example:8001" || u.EscapedPath() != tc.wantPath || u.Query().Get("token") != is.Token {
			t.Errorf("link %s: want http://ann-box.example:8001%s?token=<the token>", is.Link, tc.wantPath)
		}
	}
	if is, err := d.IssueToken(ctx, bob, directory.TokenRequest{Scope: token.ScopeDownload, Peer: "ann-box"}); err != nil || is.Link != "" {
		t.Errorf("unbound download token: link %q, %v; want none", is.Link, err)
	}

	for _, r := range []directory.TokenRequest{
		{Scope: token.ScopeUpload, Peer: "ann-box", SHA256: sha},
		{Scope: token.ScopeRead, SHA256: sha},
		{Scope: token.ScopeDownload, Peer: "ann-box", SHA256: strings.ToUpper(sha)},
		{Scope: token.ScopeDownload, Peer: "ann-box", Name: "a.txt"},
		{Scope: token.ScopeDownload, Peer: "ann-box", SHA256: sha, Name: "dir/a.txt"},
		{Scope: token.ScopeDownload, Peer: "ann-box", SHA256: sha, Name: ".."},
		{Scope: token.ScopeDownload, Peer: "ann-box", SHA256: sha, Name: "a\x00b"},
	} {
		if _, err := d.IssueToken(ctx, bob, r); !errors.Is(err, directory.ErrInvalidArgument) {
			t.Errorf("IssueToken(%+v) = %v, want ErrInvalidArgument", r, err)
		}
	}
}
