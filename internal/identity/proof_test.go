package identity_test

import (
	"errors"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/identity"
)

func TestLoginProof(t *testing.T) {
	cert, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	msg := identity.LoginProofMessage("alice", "p1", "https://127.0.0.1:8001", now)
	spki, sig, err := identity.SignLoginProof(cert, msg)
	if err != nil {
		t.Fatal(err)
	}
	pin, err := identity.VerifyLoginProof(spki, msg, sig, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if pin != identity.PinOf(cert.Leaf) {
		t.Fatalf("pin %s, want %s", pin, identity.PinOf(cert.Leaf))
	}
	// Another key's public half with this signature: refused (claiming a
	// pin without holding its key).
	otherSPKI := other.Leaf.RawSubjectPublicKeyInfo
	if _, err := identity.VerifyLoginProof(otherSPKI, msg, sig, now, now); !errors.Is(err, identity.ErrBadProof) {
		t.Fatalf("foreign key: %v", err)
	}
	// The signature of another login (another advertised address): refused.
	moved := identity.LoginProofMessage("alice", "p1", "https://10.0.0.9:8001", now)
	if _, err := identity.VerifyLoginProof(spki, moved, sig, now, now); !errors.Is(err, identity.ErrBadProof) {
		t.Fatalf("other message: %v", err)
	}
	// Too old, or from the future.
	if _, err := identity.VerifyLoginProof(spki, msg, sig, now, now.Add(identity.ProofMaxAge+time.Second)); !errors.Is(err, identity.ErrBadProof) {
		t.Fatalf("stale proof: %v", err)
	}
	if _, err := identity.VerifyLoginProof(spki, msg, sig, now, now.Add(-identity.ProofMaxAge-time.Second)); !errors.Is(err, identity.ErrBadProof) {
		t.Fatalf("future proof: %v", err)
	}
}
