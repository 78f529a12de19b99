// Package clientaddr is the one rule for "one remote client" that
// per-client limits count by: the login throttle's per-address delay and
// the peer's per-address transfer cap.
package clientaddr

import (
	"net"
	"net/netip"
)

// Of is the part of a remote address ("host:port", as
// http.Request.RemoteAddr and connect.Peer.Addr give it, or a bare host)
// that names one client: an IPv4 address, or the /64 prefix of an IPv6
// address, since one host or network usually holds a whole /64 and could
// otherwise call from 2^64 addresses. It is the connection's own address:
// headers such as X-Forwarded-For, which any caller can write, are not
// believed. A host that does not parse is its own key.
func Of(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}
