package downloader

import (
	"context"
	"fmt"
	"sync"

	"connectrpc.com/connect"
)

// TokenSource gives the bearer token to present to one source: a download
// token its directory issued for that peer alone (session.Tokens is one).
// Safe for concurrent use.
type TokenSource interface {
	// Token returns a token for the peer named peer, fresh enough for a
	// call to start.
	Token(ctx context.Context, peer string) (string, error)
	// Refused tells that peer refused raw (Unauthenticated), so that the
	// next Token returns a new one.
	Refused(peer, raw string)
}

// clientOptions are the PeerService client options for source s: with
// Options.Tokens, its own tokens, asked for at every call; else the fixed
// Options.Token.
func (e *engine) clientOptions(s *source) []connect.ClientOption {
	if e.o.Tokens == nil {
		return e.copts
	}
	return append([]connect.ClientOption{connect.WithInterceptors(&sourceAuth{tokens: e.o.Tokens, peer: s.Peer})}, e.copts...)
}

// permanent is the package's permanent, except that a source that refused
// a token of Options.Tokens is tried again: its next call carries a new
// one (the old may have expired during a long download, or the peer
// restarted).
func (e *engine) permanent(err error) bool {
	if e.o.Tokens != nil && connect.CodeOf(err) == connect.CodeUnauthenticated {
		return false
	}
	return permanent(err)
}

// sourceAuth sends a source's token with each call, and reports a refused
// one to the TokenSource.
type sourceAuth struct {
	tokens TokenSource
	peer   string
}

// token returns the source's token for a call.
func (a *sourceAuth) token(ctx context.Context) (string, error) {
	if a.peer == "" {
		return "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("a source without a peer name cannot be given a token"))
	}
	return a.tokens.Token(ctx, a.peer)
}

// WrapUnary implements connect.Interceptor.
func (a *sourceAuth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		raw, err := a.token(ctx)
		if err != nil {
			return nil, err
		}
		req.Header().Set("Authorization", "Bearer "+raw)
		res, err := next(ctx, req)
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			a.tokens.Refused(a.peer, raw)
		}
		return res, err
	}
}

// WrapStreamingClient implements connect.Interceptor: the token is set
// before the first message goes (with the headers).
func (a *sourceAuth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		return &authConn{StreamingClientConn: next(ctx, spec), ctx: ctx, auth: a}
	}
}

// WrapStreamingHandler implements connect.Interceptor.
func (a *sourceAuth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// authConn is a client stream that carries a source's token.
type authConn struct {
	connect.StreamingClientConn
	ctx  context.Context
	auth *sourceAuth

	once sync.Once
	raw  string
	err  error
}

func (c *authConn) Send(msg any) error {
	c.once.Do(func() {
		c.raw, c.err = c.auth.token(c.ctx)
		if c.err == nil {
			c.RequestHeader().Set("Authorization", "Bearer "+c.raw)
		}
	})
	if c.err != nil {
		return c.err
	}
	return c.StreamingClientConn.Send(msg)
}

func (c *authConn) Receive(msg any) error {
	err := c.StreamingClientConn.Receive(msg)
	if connect.CodeOf(err) == connect.CodeUnauthenticated && c.raw != "" {
		c.auth.tokens.Refused(c.auth.peer, c.raw)
	}
	return err
}
