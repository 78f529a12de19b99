// Package relaywire is the relay's wire, shared by the directory's relay
// (server/relay), the peers that wait on it (peer/relayagent) and the
// downloaders that connect through it (peer/downloader).
//
// The relay lives on the directory's own port, as an HTTP/1.1 Upgrade
// (Upgrade: peerhub-relay/1), not on a listener of its own: a peer that
// can reach its directory can reach its relay through the same firewall
// holes and proxies, the directory's TLS (and the pin a client trusts it
// by) protects the token of the upgrade request, and the token is checked
// from the request's headers before the connection is taken over. After
// the 101 answer the connection is a plain byte pipe, which is what TLS
// between downloader and peer needs. (HTTP/2 has no Upgrade, so both
// sides ask for HTTP/1.1 on this one connection.)
//
//   - A peer waits: GET ListenPath with its session token. After the 101
//     the relay sends FrameKeepalive every KeepaliveInterval, then one
//     FramePaired followed by the downloader's address (2-byte big-endian
//     length, then the bytes); the peer answers FrameAccept, and from then
//     on the connection carries the downloader's bytes. A peer keeps
//     waiting connections open and opens a new one whenever one is paired.
//   - A downloader connects: GET ConnectPath?peer=NAME with a relay token
//     (scope relay) for that peer. The relay pairs it with one of the
//     peer's waiting connections before it answers 101; a refusal is a
//     Connect JSON error (code and message) with its HTTP status.
package relaywire

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/rpcclient"
)

// Paths and the protocol name of the relay's upgrade requests.
const (
	// ListenPath is where a peer opens a waiting connection.
	ListenPath = "/relay/v1/listen"
	// ConnectPath is where a downloader asks for a connection to a peer
	// (query parameter PeerParam).
	ConnectPath = "/relay/v1/connect"
	// PeerParam names the peer in a ConnectPath request.
	PeerParam = "peer"
	// Protocol is the Upgrade token of both requests.
	Protocol = "peerhub-relay/1"
)

// Frames the relay sends on a waiting connection, and the peer's answer.
const (
	// FrameKeepalive says the relay still holds the connection.
	FrameKeepalive byte = 'k'
	// FramePaired says a downloader was paired with this connection; its
	// address follows.
	FramePaired byte = 'p'
	// FrameAccept is the peer's answer to FramePaired: from here on the
	// connection is the downloader's.
	FrameAccept byte = 'a'
)

// Timings of the wire.
const (
	// KeepaliveInterval is how often the relay writes FrameKeepalive on a
	// waiting connection.
	KeepaliveInterval = 15 * time.Second
	// KeepaliveTimeout is how long a peer waits for any frame before it
	// takes the relay for gone and opens a new waiting connection.
	KeepaliveTimeout = 3 * KeepaliveInterval
	// AcceptTimeout is how long the relay waits for FrameAccept before it
	// drops a waiting connection and tries the peer's next one.
	AcceptTimeout = 5 * time.Second
	// MaxAddressLen bounds the downloader address of a FramePaired, in
	// bytes.
	MaxAddressLen = 256
	// maxErrorBody bounds the refusal body a client reads, in bytes.
	maxErrorBody = 4 << 10
)

// WritePaired writes FramePaired with the downloader's address addr
// (truncated to MaxAddressLen bytes).
func WritePaired(w io.Writer, addr string) error {
	if len(addr) > MaxAddressLen {
		addr = addr[:MaxAddressLen]
	}
	b := make([]byte, 0, 3+len(addr))
	b = append(b, FramePaired)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addr)))
	b = append(b, addr...)
	_, err := w.Write(b)
	return err
}

// ReadPairedAddress reads the address that follows FramePaired.
func ReadPairedAddress(r io.Reader) (string, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", fmt.Errorf("relay: paired frame: %w", err)
	}
	l := int(binary.BigEndian.Uint16(n[:]))
	if l > MaxAddressLen {
		return "", fmt.Errorf("relay: paired frame: address of %d bytes, at most %d", l, MaxAddressLen)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("relay: paired frame: %w", err)
	}
	return string(b), nil
}

// Dialer opens the connection to the directory an upgrade request goes
// over: TCP for an http:// directory, TLS (with ALPN http/1.1) for an
// https:// one.
type Dialer func(ctx context.Context) (net.Conn, error)

// Upgrade sends an upgrade request for path (with query) on a connection
// from dial, authorised by bearer, and returns the connection once the
// relay answered 101; bytes the relay sent after its answer are kept.
// host is the directory's host:port, for the Host header. A refusal is a
// *connect.Error with the relay's code and message.
func Upgrade(ctx context.Context, dial Dialer, host, path string, query url.Values, bearer string) (net.Conn, error) {
	conn, err := dial(ctx)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("relay: %w", err))
	}
	// The request and its answer are bounded by ctx; the connection that
	// follows is not.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c, err := upgrade(conn, host, path, query, bearer)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

// upgrade runs Upgrade's exchange on conn.
func upgrade(conn net.Conn, host, path string, query url.Values, bearer string) (net.Conn, error) {
	u := &url.URL{Scheme: "http", Host: host, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", Protocol)
	req.Header.Set("Authorization", "Bearer "+bearer)
	if err := req.Write(conn); err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("relay: send request: %w", err))
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("relay: read answer: %w", err))
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		defer res.Body.Close()
		return nil, refusal(res)
	}
	return &bufferedConn{Conn: conn, r: br}, nil
}

// refusal turns a relay's error answer into a *connect.Error.
func refusal(res *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	var code connect.Code
	if json.Unmarshal(body, &e) == nil && code.UnmarshalText([]byte(e.Code)) == nil {
		return connect.NewError(code, errors.New(e.Message))
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("relay: answered %s", res.Status))
}

// WriteError answers an upgrade request with a Connect JSON error: code,
// its HTTP status, and msg.
func WriteError(w http.ResponseWriter, code connect.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus(code))
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code.String(), msg})
	w.Write(b)
}

// httpStatus is Connect's HTTP status for the codes the relay answers.
func httpStatus(code connect.Code) int {
	switch code {
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition:
		return http.StatusBadRequest
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// bufferedConn is a connection whose first bytes may sit in a reader that
// read past the upgrade's answer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads the buffered bytes first.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// AddrConn is a connection that reports another remote address: the
// downloader's, as the relay saw it, on a peer's relayed connection.
type AddrConn struct {
	net.Conn
	// Remote is the address RemoteAddr returns.
	Remote net.Addr
}

// RemoteAddr returns Remote.
func (c *AddrConn) RemoteAddr() net.Addr { return c.Remote }

// RelayedAddr is the remote address of a relayed connection: the
// downloader's host:port as the relay saw it.
type RelayedAddr string

// Network implements net.Addr.
func (RelayedAddr) Network() string { return "relay" }

// String implements net.Addr.
func (a RelayedAddr) String() string { return string(a) }

// DirectoryDialer returns the dialer of upgrade requests to the directory
// at u: TCP for http://, TLS with ALPN http/1.1 for https:// (from tlsCfg
// when set; it is cloned).
func DirectoryDialer(u *url.URL, tlsCfg *tls.Config) Dialer {
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	return func(ctx context.Context) (net.Conn, error) {
		d := &net.Dialer{Timeout: rpcclient.DialTimeout, KeepAlive: 30 * time.Second}
		if u.Scheme != "https" {
			return d.DialContext(ctx, "tcp", host)
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsCfg != nil {
			cfg = tlsCfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		// An upgrade is HTTP/1.1's.
		cfg.NextProtos = []string{"http/1.1"}
		td := &tls.Dialer{NetDialer: d, Config: cfg}
		return td.DialContext(ctx, "tcp", host)
	}
}
