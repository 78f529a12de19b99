// Package rpcclient owns how peerhub talks to a directory or a peer: an HTTP
// client that speaks HTTP/2 without TLS (h2c, prior knowledge) and over TLS,
// tuned for streams of file data; whom it trusts over TLS (a peer by the pin
// the directory vouches for, a directory by the pin in its URL, a
// certificate authority, or the pin remembered on first use); and the
// interceptor that sends the bearer token.
package rpcclient

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/http2tuning"
)

// DialTimeout bounds connecting (TCP and TLS handshake) to a directory or
// a peer.
const DialTimeout = 10 * time.Second

// NewHTTPClient returns an HTTP client for Connect and gRPC calls: HTTP/2
// over cleartext for http:// URLs and over TLS for https:// ones (checked
// against the system's certificate authorities), with the frame size and
// windows of internal/http2tuning (the default 16 KiB frames cost ~40% of
// loopback throughput). Peers and directories with self-signed
// certificates need NewTLSClient with their pin instead.
func NewHTTPClient() *http.Client { return NewTLSClient(nil) }

// NewTLSClient is NewHTTPClient with tlsConfig for https:// URLs (nil: the
// system's certificate authorities), e.g. identity.ClientConfig(pin).
func NewTLSClient(tlsConfig *tls.Config) *http.Client {
	h2 := http2tuning.Config()
	h2.SendPingTimeout = 30 * time.Second
	h2.PingTimeout = 15 * time.Second
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		Protocols:           &protocols,
		DialContext:         (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: DialTimeout,
		TLSClientConfig:     tlsConfig,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		HTTP2:               h2,
	}}
}

// Token holds the current bearer token of a session; it is replaced when a
// heartbeat renews the token or a new login happens. Safe for concurrent use.
type Token struct {
	mu  sync.RWMutex
	raw string
}

// Set replaces the token.
func (t *Token) Set(raw string) {
	t.mu.Lock()
	t.raw = raw
	t.mu.Unlock()
}

// Get returns the token, "" when none.
func (t *Token) Get() string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.raw
}

// BearerInterceptor sends "Authorization: Bearer <token>" on every call
// when the token is set.
type BearerInterceptor struct{ token *Token }

// NewBearerInterceptor returns a BearerInterceptor for t.
func NewBearerInterceptor(t *Token) *BearerInterceptor { return &BearerInterceptor{token: t} }

// WrapUnary implements connect.Interceptor.
func (b *BearerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if raw := b.token.Get(); raw != "" && req.Spec().IsClient {
			req.Header().Set("Authorization", "Bearer "+raw)
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (b *BearerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if raw := b.token.Get(); raw != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+raw)
		}
		return conn
	}
}

// WrapStreamingHandler implements connect.Interceptor.
func (b *BearerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// Options are the client options for a session holding t: the bearer
// token, and no compression of requests (file data does not compress, and
// gzip caps a stream at ~50 MiB/s).
func Options(t *Token, extra ...connect.ClientOption) []connect.ClientOption {
	return append([]connect.ClientOption{
		connect.WithInterceptors(NewBearerInterceptor(t)),
		connect.WithReadMaxBytes(16 << 20),
	}, extra...)
}

// NoCompression is the client option for file streams: it withdraws gzip
// from Accept-Encoding so the server never compresses chunks.
func NoCompression() connect.ClientOption {
	return connect.WithAcceptCompression("gzip", nil, nil)
}
