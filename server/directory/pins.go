package directory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/server/store"
)

// A peer serving https:// proves at each login that it holds its TLS key
// (a signature of the login, KeyProof); the directory binds the key's pin
// to the peer's name, and search results, listings and transfer tokens
// carry it, so that clients accept only that key at the peer's address.
// Peer sessions only come from password logins of the name's owning
// account, so only such a login changes the binding; a changed key is
// logged and shown in listings (PeerPin.ChangedAt).

// KeyProof is a peer's signature of its login with its TLS key
// (identity.LoginProofMessage).
type KeyProof struct {
	// PublicKey is the key's DER SubjectPublicKeyInfo.
	PublicKey []byte
	// SignedAt is when the peer signed.
	SignedAt time.Time
	// Signature is the signature.
	Signature []byte
}

// provenPin returns the pin a peer login proved: "" for a client or a
// peer serving http:// (a proof is then ignored).
// Errors: ErrInvalidArgument for an https:// peer without a proof or with
// one that does not verify.
func (d *Directory) provenPin(c Credentials) (identity.Pin, error) {
	if !strings.HasPrefix(c.AdvertiseAddress, "https://") {
		return "", nil
	}
	if c.KeyProof == nil {
		return "", fmt.Errorf("a peer serving https:// must prove its TLS key at login (key_proof); upgrade the peer: %w", ErrInvalidArgument)
	}
	msg := identity.LoginProofMessage(c.Username, c.PeerName, c.AdvertiseAddress, c.KeyProof.SignedAt)
	pin, err := identity.VerifyLoginProof(c.KeyProof.PublicKey, msg, c.KeyProof.Signature, c.KeyProof.SignedAt, d.cfg.Now())
	if err != nil {
		return "", fmt.Errorf("key_proof: %w: %w", err, ErrInvalidArgument)
	}
	return pin, nil
}

// PeerPins returns the TLS identities bound to the peer names names
// (store.Store.PeerPins), for the tokens issued for them; search results
// and listings read their pins in their own statements.
func (d *Directory) PeerPins(ctx context.Context, names []string) (map[string]store.PeerPin, error) {
	pins, err := d.store.PeerPins(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("peer pins: %w", err)
	}
	return pins, nil
}
