package rpcclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/peerhub/peerhub/internal/identity"
)

// A client trusts a directory's TLS key by, in this order: the pin in its
// URL ("https://host:8000#sha256//…", which the directory prints at start
// and "peerhub directory pin" prints); a certificate that a certificate
// authority of the system signed for the host; the pin remembered for the
// host in the known-hosts file on first use (KnownHosts), which refuses a
// changed key.

// SplitPin splits a directory URL into the base URL the calls go to and
// the pin in its fragment, if any ("" when none).
// Errors: a URL that does not parse, a fragment that is not a pin, or a
// pin on an http:// URL.
func SplitPin(raw string) (string, identity.Pin, error) {
	base, frag, ok := strings.Cut(raw, "#")
	if !ok || frag == "" {
		return base, "", nil
	}
	pin, err := identity.ParsePin(frag)
	if err != nil {
		return "", "", fmt.Errorf("URL %s: the part after # must be the directory's pin: %w", base, err)
	}
	if !strings.HasPrefix(base, "https://") {
		return "", "", fmt.Errorf("URL %s: a pin needs an https:// URL", base)
	}
	return base, pin, nil
}

// DirectoryClient returns the base URL (the fragment dropped) and the HTTP
// client for the directory at raw, trusting its key as the package comment
// says; known may be nil (no trust on first use: an https:// directory
// then needs a pin in its URL or a certificate authority's certificate).
// Errors: those of SplitPin.
func DirectoryClient(raw string, known *KnownHosts) (string, *http.Client, error) {
	base, cfg, err := DirectoryTLSFor(raw, known)
	if err != nil {
		return "", nil, err
	}
	if cfg == nil {
		return base, NewHTTPClient(), nil
	}
	return base, NewTLSClient(cfg), nil
}

// DirectoryTLS returns the TLS client configuration for the directory at
// hostport (see DirectoryClient).
func DirectoryTLS(hostport string, pin identity.Pin, known *KnownHosts) *tls.Config {
	if pin != "" {
		return identity.ClientConfig(pin)
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		// Checked in VerifyConnection: by the system's roots, else by the
		// remembered pin.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the directory sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter}); err == nil {
				return nil
			}
			if known == nil {
				return fmt.Errorf("the directory at %s has a certificate no known authority signed, and no pin was given: use the URL with #%s (peerhub directory pin prints it on the directory's machine)", hostport, identity.PinOf(leaf))
			}
			return known.Check(hostport, identity.PinOf(leaf))
		},
	}
}

// DirectoryTLSFor returns the base URL (the fragment dropped) and the TLS
// client configuration for the directory at raw, trusting its key as
// DirectoryClient does; the configuration is nil for an http:// URL. It
// is for connections that are not the directory's API client's, such as
// the relay's.
// Errors: those of SplitPin, and a URL without a host.
func DirectoryTLSFor(raw string, known *KnownHosts) (string, *tls.Config, error) {
	base, pin, err := SplitPin(raw)
	if err != nil {
		return "", nil, err
	}
	if !strings.HasPrefix(base, "https://") {
		return base, nil, nil
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("directory URL %q: want https://HOST[:PORT]", base)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "443")
	}
	return base, DirectoryTLS(hostport, pin, known), nil
}
