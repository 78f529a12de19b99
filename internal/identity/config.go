package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ALPN protocol names, in order of preference.
var (
	serverProtocols = []string{"h2", "http/1.1"}
	clientProtocols = []string{"h2"}
)

// ErrPinMismatch is wrapped by the handshake error of a ClientConfig
// connection whose server presented a key other than the pinned one.
var ErrPinMismatch = errors.New("the server's TLS key is not the pinned one")

// ServerConfig returns the TLS configuration a role serves with: cert,
// TLS 1.2 or later, and ALPN h2 then http/1.1 (curl and browsers may speak
// either; peerhub's clients speak h2).
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   serverProtocols,
	}
}

// ClientConfig returns a TLS client configuration that accepts a server
// whose leaf certificate's public key has pin, and nothing else: no CA, host
// name or validity date is consulted, since the pin, learnt from a source
// the client trusts (the directory, the URL, its known_hosts), is the
// server's identity. The handshake itself proves that the server holds the
// pinned key. ALPN is h2. An empty pin refuses every server.
func ClientConfig(pin Pin) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: clientProtocols,
		// The chain is checked in VerifyConnection, against the pin.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyPin(cs.PeerCertificates, pin)
		},
	}
}

// VerifyPin checks that the leaf of chain (the first certificate) has pin.
// Errors: wrapping ErrPinMismatch, naming both pins.
func VerifyPin(chain []*x509.Certificate, pin Pin) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: the server sent no certificate", ErrPinMismatch)
	}
	if pin == "" {
		return fmt.Errorf("%w: no pin is known for this server", ErrPinMismatch)
	}
	if got := PinOf(chain[0]); got != pin {
		return fmt.Errorf("%w: it presented %s, want %s", ErrPinMismatch, got, pin)
	}
	return nil
}
