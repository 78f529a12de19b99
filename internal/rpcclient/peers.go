package rpcclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/peerhub/peerhub/internal/identity"
)

// ErrNoPin is wrapped by PeerClients.For's error for an https:// peer
// whose pin is not known: it cannot be told from a man in the middle.
var ErrNoPin = errors.New("no pin is known for this peer")

// PeerClients hands out the HTTP client for each peer: one per pin, whose
// TLS accepts only that pin (identity.ClientConfig), so a connection
// verified for one peer is never reused for another that claims the same
// address; and one cleartext client for peers that serve http:// (started
// with --insecure-plaintext). Safe for concurrent use.
type PeerClients struct {
	mu    sync.Mutex
	plain *http.Client
	byPin map[identity.Pin]*http.Client
}

// NewPeerClients returns PeerClients whose http:// peers go through plain
// (NewHTTPClient() if nil).
func NewPeerClients(plain *http.Client) *PeerClients {
	if plain == nil {
		plain = NewHTTPClient()
	}
	return &PeerClients{plain: plain, byPin: map[identity.Pin]*http.Client{}}
}

// RequirePin is the one rule for reaching a peer over TLS: an https://
// address needs the pin the directory vouched for, or it cannot be told
// from a man in the middle. It returns nil for any other address or when
// pin is set.
// Errors: wrapping ErrNoPin.
func RequirePin(address string, pin identity.Pin) error {
	if pin == "" && strings.HasPrefix(address, "https://") {
		return fmt.Errorf("peer at %s: %w (the directory did not vouch for its key)", address, ErrNoPin)
	}
	return nil
}

// For returns the client for the peer serving at address with pin: the
// cleartext one for an http:// address, the pin's for an https:// one.
// Errors: wrapping ErrNoPin for an https:// address without a pin.
func (p *PeerClients) For(address string, pin identity.Pin) (*http.Client, error) {
	if strings.HasPrefix(address, "http://") {
		return p.plain, nil
	}
	if err := RequirePin(address, pin); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.byPin[pin]
	if !ok {
		c = NewTLSClient(identity.ClientConfig(pin))
		p.byPin[pin] = c
	}
	return c, nil
}

// CloseIdleConnections closes the idle connections of every client.
func (p *PeerClients) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.plain.CloseIdleConnections()
	for _, c := range p.byPin {
		c.CloseIdleConnections()
	}
}
