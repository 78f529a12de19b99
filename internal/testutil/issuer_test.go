package testutil_test

import (
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
)

func TestIssuer(t *testing.T) {
	t.Parallel()
	iss := testutil.NewIssuer(t)
	c := token.Claims{SessionID: "s1"}
	c.Subject = "alice"
	got, err := iss.Verifier.Verify(t.Context(), iss.Sign(t, c, time.Now(), time.Hour))
	if err != nil || got.Subject != "alice" || got.SessionID != "s1" {
		t.Fatalf("Verify(Sign) = %+v, %v", got, err)
	}
	if _, err := iss.Verifier.Verify(t.Context(), iss.Sign(t, c, time.Now().Add(-2*time.Hour), time.Hour)); err == nil {
		t.Error("an expired token verifies")
	}
	forger := testutil.NewIssuer(t) // same key id, another key
	if _, err := iss.Verifier.Verify(t.Context(), forger.Sign(t, c, time.Now(), time.Hour)); err == nil {
		t.Error("a token of another key under the same id verifies")
	}
}
