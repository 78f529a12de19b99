package directory

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/store"
)

// loadKeys makes the newest stored key the signer and every stored key a
// verification key, generating and storing a key first when the store has
// none.
func (d *Directory) loadKeys(ctx context.Context) error {
	keys, err := d.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if len(keys) == 0 {
		k, err := newSigningKey(d.cfg.Now())
		if err != nil {
			return err
		}
		// Another replica on the same database may have stored a key
		// meanwhile; either way the reload below picks the newest.
		if err := d.store.AddSigningKey(ctx, k); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("store new signing key: %w", err)
		}
		d.log.Info("generated a new token signing key", "key_id", k.ID)
		if keys, err = d.store.SigningKeys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		if len(keys) == 0 {
			return errors.New("load signing keys: the store kept none of the key just added")
		}
	}
	newest := keys[0]
	d.signer = token.NewSigner(newest.ID, newest.Private, d.cfg.Issuer)
	d.setKeys(publicKeys(keys))
	d.verifier = token.NewVerifier(d.cfg.Issuer, d.currentKeys(),
		token.WithClock(d.cfg.Now),
		// Another replica may add keys to the shared store; a token with an
		// unknown key id triggers a (rate-limited) reload.
		token.WithKeySource(d.reloadKeys))
	return nil
}

// reloadKeys reads every verification key from the store again.
func (d *Directory) reloadKeys(ctx context.Context) ([]token.PublicKey, error) {
	keys, err := d.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("reload signing keys: %w", err)
	}
	pubs := publicKeys(keys)
	d.setKeys(pubs)
	return pubs, nil
}

func (d *Directory) setKeys(pubs []token.PublicKey) {
	d.keysMu.Lock()
	d.keys = pubs
	d.keysMu.Unlock()
}

func (d *Directory) currentKeys() []token.PublicKey {
	d.keysMu.RLock()
	defer d.keysMu.RUnlock()
	return append([]token.PublicKey(nil), d.keys...)
}

// publicKeys returns the verification halves of keys, in the same order.
func publicKeys(keys []store.SigningKey) []token.PublicKey {
	out := make([]token.PublicKey, 0, len(keys))
	for _, k := range keys {
		pub, ok := k.Private.Public().(ed25519.PublicKey)
		if !ok || len(k.Private) != ed25519.PrivateKeySize {
			continue // unreachable for keys this package generated
		}
		out = append(out, token.PublicKey{ID: k.ID, Key: pub})
	}
	return out
}

// newSigningKey generates an Ed25519 key whose id is derived from its public
// half, so the same key always has the same id.
func newSigningKey(now time.Time) (store.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	sum := sha256.Sum256(pub)
	return store.SigningKey{ID: hex.EncodeToString(sum[:8]), Private: priv, Created: now}, nil
}
