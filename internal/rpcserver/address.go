package rpcserver

import "net/netip"

// ClientAddress is the part of a remote address ("host:port", as
// http.Request.RemoteAddr and connect.Peer.Addr give it) that names one
// client for per-client limits: an IPv4 address, or the /64 prefix of an
// IPv6 address, since one host or network usually holds a whole /64 and
// could otherwise call from 2^64 addresses. It is the connection's own
// address: headers such as X-Forwarded-For, which any caller can write, are
// not believed. A remote address that does not parse is returned as is.
func ClientAddress(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}
