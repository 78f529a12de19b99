package rpcclient

import (
	"errors"
	"testing"

	"github.com/peerhub/peerhub/internal/identity"
)

// TestRequirePin: an https:// peer is reached only with a pin; http:// ones
// (--insecure-plaintext) need none.
func TestRequirePin(t *testing.T) {
	pin := identity.Pin("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	for _, tt := range []struct {
		address string
		pin     identity.Pin
		refused bool
	}{
		{"https://127.0.0.1:8001", "", true},
		{"https://127.0.0.1:8001", pin, false},
		{"http://127.0.0.1:8001", "", false},
	} {
		err := RequirePin(tt.address, tt.pin)
		if got := errors.Is(err, ErrNoPin); got != tt.refused {
			t.Errorf("RequirePin(%q, %q) = %v, want refused %v", tt.address, tt.pin, err, tt.refused)
		}
		c, err := NewPeerClients(nil).For(tt.address, tt.pin)
		if got := errors.Is(err, ErrNoPin); got != tt.refused || (c == nil) != tt.refused {
			t.Errorf("For(%q, %q) = %v, %v; want refused %v", tt.address, tt.pin, c, err, tt.refused)
		}
	}
}
