package session

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
)

// Refresh is a refresh token: what `peerhub login` keeps instead of the
// password. The directory exchanges it for a client session without a
// password check (DirectoryService.Refresh) until it expires or is revoked
// (RevokeAndLogout).
type Refresh struct {
	// Token is the refresh token; a secret, like a password.
	Token string
	// ExpiresAt is when the directory stops accepting it.
	ExpiresAt time.Time
}

// IssuedRefresh is the refresh token the last Login issued (Config.
// WantRefresh); zero if none.
func (s *Session) IssuedRefresh() Refresh {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh
}

// Username is the account of the session: Config.Username, or after a Login
// with a refresh token the account the directory named.
func (s *Session) Username() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Username
}

// loginWithRefresh opens a client session with Config.RefreshToken.
// Errors: ErrLogin when the directory refuses the refresh token (revoked,
// expired, forged): a new password login is needed.
func (s *Session) loginWithRefresh(ctx context.Context) error {
	res, err := s.client.Refresh(ctx, connect.NewRequest(&directoryv1.RefreshRequest{RefreshToken: s.cfg.RefreshToken}))
	if err != nil {
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated, connect.CodeInvalidArgument:
			return fmt.Errorf("%w: the stored login is no longer accepted (run peerhub login again): %w", ErrLogin, err)
		}
		return fmt.Errorf("log in at %s with the stored login: %w", s.cfg.Directory, err)
	}
	s.mu.Lock()
	s.openedLocked(res.Msg.GetToken(), res.Msg.GetHeartbeatInterval().AsDuration())
	if u := res.Msg.GetUsername(); u != "" {
		s.cfg.Username = u
	}
	s.mu.Unlock()
	s.log.Log(ctx, s.level(), "logged in with a refresh token", "directory", s.cfg.Directory, "user", res.Msg.GetUsername())
	return nil
}

// RevokeAndLogout ends the session and revokes the refresh token refresh
// (of the same account) at the directory: what `peerhub logout` does.
func (s *Session) RevokeAndLogout(ctx context.Context, refresh string) error {
	return s.logout(ctx, refresh)
}
