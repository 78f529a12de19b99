package rpcserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/token"
)

// Authenticator checks a bearer token for a call of procedure (the full
// procedure name, e.g. "/peerhub.peer.v1.PeerService/Download": what a
// token may be used for depends on it) and returns the caller's claims. Any
// error means Unauthenticated, unless it is a *connect.Error, whose code is
// kept; its message is shown to the caller, so it must not contain the
// token.
type Authenticator func(ctx context.Context, procedure, bearer string) (token.Claims, error)

// AuthInterceptor requires `Authorization: Bearer <token>` on every call but
// the public procedures, and puts the verified claims in the context
// (token.FromContext).
type AuthInterceptor struct {
	auth   Authenticator
	public map[string]bool
}

// NewAuthInterceptor returns an AuthInterceptor; public lists the full
// procedure names (e.g. "/peerhub.directory.v1.DirectoryService/Login")
// that need no token.
func NewAuthInterceptor(auth Authenticator, public ...string) *AuthInterceptor {
	m := make(map[string]bool, len(public))
	for _, p := range public {
		m[p] = true
	}
	return &AuthInterceptor{auth: auth, public: m}
}

func (a *AuthInterceptor) authenticate(ctx context.Context, procedure string, h http.Header) (context.Context, error) {
	// A call a gate of Mount admitted was checked before its body was
	// read; its claims are in ctx already.
	if a.public[procedure] || admitted(ctx, procedure) {
		return ctx, nil
	}
	raw, ok := BearerToken(h)
	if !ok {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("missing header \"Authorization: Bearer <token>\"; log in first"))
	}
	c, err := a.auth(ctx, procedure, raw)
	if ce := new(connect.Error); errors.As(err, &ce) {
		// The authenticator chose the code itself, e.g. Internal when its
		// store failed: a broken server is not the caller's bad token.
		return nil, ce
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeUnauthenticated, err)
	}
	return token.NewContext(ctx, c), nil
}

// WrapUnary implements connect.Interceptor.
func (a *AuthInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := a.authenticate(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (a *AuthInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (a *AuthInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// BearerToken extracts the token of an "Authorization: Bearer" header.
func BearerToken(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(v[len(prefix):])
	return t, t != ""
}
