package directory_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
)

// login logs name in (as a peer when peer is set) and returns the grant
// and its verified claims.
func login(t *testing.T, d *directory.Directory, name, peer string) (directory.Grant, token.Claims) {
	t.Helper()
	cr := directory.Credentials{Username: name, Password: "pw"}
	if peer != "" {
		cr.AdvertiseAddress, cr.PeerName = "http://"+peer+".example:8001", peer
	}
	g, err := d.Login(t.Context(), cr)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	c, err := d.Authenticate(t.Context(), g.Token)
	if err != nil {
		t.Fatalf("authenticate %s: %v", name, err)
	}
	return g, c
}

// TestIssueToken checks what tokens IssueToken gives, to whom, and that the
// directory accepts none of the transfer tokens and the read token only
// for reads.
func TestIssueToken(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c)
	ctx := t.Context()
	addUsers(t, d, "ann", "bob")
	login(t, d, "ann", "ann-box")
	_, bob := login(t, d, "bob", "")
	verifier := token.NewVerifier(d.Info().Issuer, d.Info().Keys, token.WithClock(c.Now), token.WithMaxLifetime(token.MaxLifetime))

	for _, scope := range []string{token.ScopeDownload, token.ScopeUpload} {
		is, err := d.IssueToken(ctx, bob, directory.TokenRequest{Scope: scope, Peer: "ann-box"})
		raw, exp := is.Token, is.ExpiresAt
		if err != nil {
			t.Fatalf("%s token: %v", scope, err)
		}
		if !exp.Equal(c.Now().Add(token.TransferTTL)) {
			t.Errorf("%s token expires at %v, want in %s", scope, exp, token.TransferTTL)
		}
		got, err := verifier.VerifyFor(ctx, raw, token.Need{Scopes: []string{scope}, Audience: "ann-box"})
		if err != nil {
			t.Fatalf("%s token does not verify as one for ann-box: %v", scope, err)
		}
		if got.SessionID != bob.SessionID || got.Subject != "bob" || got.Peer != "" {
			t.Errorf("%s token claims %+v, want bob's session", scope, got)
		}
		// The directory accepts no transfer token, for any call.
		for name, auth := range map[string]func(string) (token.Claims, error){
			"Authenticate":     func(r string) (token.Claims, error) { return d.Authenticate(ctx, r) },
			"AuthenticateRead": func(r string) (token.Claims, error) { return d.AuthenticateRead(ctx, r) },
		} {
			if _, err := auth(raw); !errors.Is(err, directory.ErrUnauthenticated) || !strings.Contains(err.Error(), "a "+scope+" token for ann-box cannot be used here") {
				t.Errorf("%s of a %s token = %v, want ErrUnauthenticated saying which token it is", name, scope, err)
			}
		}
	}

	readIs, err := d.IssueToken(ctx, bob, directory.TokenRequest{Scope: token.ScopeRead})
	read := readIs.Token
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.AuthenticateRead(ctx, read); err != nil || got.Scope != token.ScopeRead || got.SessionID != bob.SessionID {
		t.Errorf("AuthenticateRead(read token) = %+v, %v", got, err)
	}
	if _, err := d.Authenticate(ctx, read); !errors.Is(err, directory.ErrUnauthenticated) || !strings.Contains(err.Error(), "needs a session token") {
		t.Errorf("Authenticate(read token) = %v, want ErrUnauthenticated saying a session token is needed", err)
	}
	readClaims, _ := d.AuthenticateRead(ctx, read)
	if _, err := d.IssueToken(ctx, readClaims, directory.TokenRequest{Scope: token.ScopeDownload, Peer: "ann-box"}); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("IssueToken for a read token's holder = %v, want ErrUnauthenticated", err)
	}

	for _, tc := range []struct {
		scope, peer string
		want        error
	}{
		{token.ScopeDownload, "nobody", directory.ErrNotFound},
		{token.ScopeUpload, "bob", directory.ErrNotFound}, // a client session is no peer
		{token.ScopeDownload, "", directory.ErrInvalidArgument},
		{token.ScopeDownload, "a b", directory.ErrInvalidArgument},
		{token.ScopeRead, "ann-box", directory.ErrInvalidArgument},
		{token.ScopeSession, "", directory.ErrInvalidArgument},
		{"admin", "", directory.ErrInvalidArgument},
	} {
		if _, err := d.IssueToken(ctx, bob, directory.TokenRequest{Scope: tc.scope, Peer: tc.peer}); !errors.Is(err, tc.want) {
			t.Errorf("IssueToken(%q, %q) = %v, want %v", tc.scope, tc.peer, err, tc.want)
		}
	}

	// A read token dies with its session at the directory.
	if err := d.Logout(ctx, bob, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AuthenticateRead(ctx, read); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("read token after logout = %v", err)
	}
}

// TestRevokedSessionsReachPeers checks that the sessions ended by logout,
// re-login and account removal are listed in peers' heartbeats (and logins)
// for RevocationRetention, and that clients get no list.
func TestRevokedSessionsReachPeers(t *testing.T) {
	t.Parallel()
	c := newClock()
	// Sessions outlive the wait for the list to age.
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) { cfg.SessionTTL = time.Hour })
	ctx := t.Context()
	addUsers(t, d, "ann", "bob", "cid")
	first, ann := login(t, d, "ann", "ann-box")
	if len(first.Revocations.SessionIDs) != 0 {
		t.Fatalf("revoked at first: %v", first.Revocations.SessionIDs)
	}
	_, bob := login(t, d, "bob", "")
	_, cid := login(t, d, "cid", "cid-box")
	heartbeat := func(who token.Claims) []string {
		t.Helper()
		g, err := d.Heartbeat(ctx, who, time.Time{})
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return g.Revocations.SessionIDs
	}

	if err := d.Logout(ctx, bob, ""); err != nil {
		t.Fatal(err)
	}
	if got := heartbeat(ann); !slices.Equal(got, []string{bob.SessionID}) {
		t.Errorf("after bob's logout: %v, want [%s]", got, bob.SessionID)
	}
	_, bob2 := login(t, d, "bob", "")
	if got := heartbeat(bob2); got != nil {
		t.Errorf("a client's heartbeat lists %v", got)
	}

	c.Advance(time.Second)
	again, ann2 := login(t, d, "ann", "ann-box")
	if want := []string{bob.SessionID, ann.SessionID}; !slices.Equal(again.Revocations.SessionIDs, want) {
		t.Errorf("the replacing login lists %v, want %v", again.Revocations.SessionIDs, want)
	}

	c.Advance(time.Second)
	if err := d.RemoveUser(ctx, "cid"); err != nil {
		t.Fatal(err)
	}
	if got, want := heartbeat(ann2), []string{bob.SessionID, ann.SessionID, cid.SessionID}; !slices.Equal(got, want) {
		t.Errorf("after cid's removal: %v, want %v", got, want)
	}

	// Listed for RevocationRetention after the revocation, then not.
	c.Advance(directory.RevocationRetention - 2*time.Second)
	if got := heartbeat(ann2); !slices.Contains(got, bob.SessionID) {
		t.Errorf("bob's session left the list before RevocationRetention: %v", got)
	}
	c.Advance(time.Second + time.Nanosecond)
	if got := heartbeat(ann2); slices.Contains(got, bob.SessionID) || !slices.Contains(got, cid.SessionID) {
		t.Errorf("after RevocationRetention: %v, want only the later ones", got)
	}
}

// TestRevocationsIncremental: a peer that sends the AsOf of its last list
// gets only what was revoked since (less revocationOverlap, the clock skew
// replicas may have), marked incremental; one whose last list is too old,
// from the future, or absent gets the whole list. A peer that missed an
// answer still has its older AsOf, so the next answer covers what it
// missed.
func TestRevocationsIncremental(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) { cfg.SessionTTL = time.Hour })
	ctx := t.Context()
	addUsers(t, d, "ann", "bob", "cid", "dan")
	_, ann := login(t, d, "ann", "ann-box")
	_, bob := login(t, d, "bob", "")
	_, cid := login(t, d, "cid", "")
	_, dan := login(t, d, "dan", "")
	heartbeat := func(since time.Time) directory.Revocations {
		t.Helper()
		g, err := d.Heartbeat(ctx, ann, since)
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return g.Revocations
	}
	logout := func(who token.Claims) {
		t.Helper()
		if err := d.Logout(ctx, who, ""); err != nil {
			t.Fatal(err)
		}
	}

	logout(bob)
	// Past the overlap: bob's revocation is not repeated below.
	c.Advance(token.ClockSkew + time.Second)
	whole := heartbeat(time.Time{})
	if whole.Incremental || !slices.Equal(whole.SessionIDs, []string{bob.SessionID}) || !whole.AsOf.Equal(c.Now()) {
		t.Fatalf("first list = %+v, want all of [%s] as of now", whole, bob.SessionID)
	}

	logout(cid)
	missed := heartbeat(whole.AsOf)
	if !missed.Incremental || !slices.Equal(missed.SessionIDs, []string{cid.SessionID}) {
		t.Fatalf("list since the first = %+v, want only [%s], incremental", missed, cid.SessionID)
	}
	// That answer is lost: the peer asks again with the first AsOf and
	// gets cid's revocation with dan's.
	c.Advance(token.ClockSkew + time.Second)
	logout(dan)
	if got := heartbeat(whole.AsOf); !got.Incremental || !slices.Equal(got.SessionIDs, []string{cid.SessionID, dan.SessionID}) {
		t.Fatalf("list after a lost answer = %+v, want [%s %s], incremental", got, cid.SessionID, dan.SessionID)
	}
	// Within the overlap, a revocation is listed again.
	if got := heartbeat(c.Now()); !got.Incremental || !slices.Equal(got.SessionIDs, []string{dan.SessionID}) {
		t.Fatalf("list as of now = %+v, want dan's again (overlap)", got)
	}

	all := []string{bob.SessionID, cid.SessionID, dan.SessionID}
	for name, since := range map[string]time.Time{
		"from the future":          c.Now().Add(time.Hour),
		"older than the retention": c.Now().Add(-directory.RevocationRetention),
	} {
		if got := heartbeat(since); got.Incremental || !slices.Equal(got.SessionIDs, all) {
			t.Errorf("list since a time %s = %+v, want the whole list %v", name, got, all)
		}
	}
}
