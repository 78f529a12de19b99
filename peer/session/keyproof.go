package session

import (
	"errors"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/identity"
)

// keyProof signs a peer login with the peer's TLS key, so the directory
// vouches for its pin; nil for a client or a peer serving http://.
// Errors: a peer serving https:// without an Identity; a key that cannot
// sign.
func (s *Session) keyProof() (*directoryv1.KeyProof, error) {
	if !strings.HasPrefix(s.cfg.Advertise, "https://") {
		return nil, nil
	}
	if s.cfg.Identity == nil {
		return nil, errors.New("a peer serving https:// needs its TLS identity to log in (session.Config.Identity)")
	}
	now := time.Now()
	msg := identity.LoginProofMessage(s.cfg.Username, s.cfg.PeerName, s.cfg.Advertise, now)
	spki, sig, err := identity.SignLoginProof(*s.cfg.Identity, msg)
	if err != nil {
		return nil, err
	}
	return &directoryv1.KeyProof{PublicKey: spki, SignedAt: timestamppb.New(now), Signature: sig}, nil
}
