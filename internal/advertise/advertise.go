// Package advertise owns the rule for a peer's advertise address, the URL
// where it serves PeerService and that the directory hands to every client:
// an http:// or https:// URL of a host and an optional port, nothing more.
// Clients send requests (and tokens) to it, so a path, query, fragment or
// user info, which would let a peer point them at any URL it likes, is
// refused. The directory checks it at login; the peer checks its own
// --advertise before it starts; the proto rule of
// LoginRequest.advertise_address says the same (a test checks they agree).
package advertise

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxLen is the longest advertise address, in bytes.
const MaxLen = 2048

// ErrInvalid is wrapped by every error of Check.
var ErrInvalid = errors.New("invalid advertise address")

// Check reports whether addr is an advertise address: scheme http or https,
// a host (a name, an IPv4 address or a bracketed IPv6 address), an optional
// port from 1 to 65535, and at most a lone "/" after it; no user info,
// query or fragment, no spaces or control characters, at most MaxLen bytes.
// The error says what to remove and wraps ErrInvalid.
func Check(addr string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s; want scheme, host and port only, e.g. http://10.0.0.5:8001", ErrInvalid, truncate(addr), why)
	}
	if len(addr) > MaxLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxLen))
	}
	if i := strings.IndexFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }); i >= 0 {
		return bad("it contains a space, a control character or a backslash")
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return bad("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("the scheme must be http or https")
	case u.Opaque != "" || u.Host == "":
		return bad("no host")
	case u.User != nil:
		return bad("it has user info (user@)")
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(addr, "?"):
		return bad("it has a query (?...)")
	case u.Fragment != "" || strings.Contains(addr, "#"):
		return bad("it has a fragment (#...)")
	case u.Path != "" && u.Path != "/", u.RawPath != "":
		return bad("it has a path")
	case u.Hostname() == "":
		return bad("no host")
	}
	if strings.Contains(u.Host, "%") {
		return bad("an IPv6 zone (%...) is not reachable by other hosts")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("the port must be a number from 1 to 65535, without leading zeros")
		}
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const n = 128
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
