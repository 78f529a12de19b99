package advertise_test

import (
	"errors"
	"strings"
	"testing"

	"buf.build/go/protovalidate"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/advertise"
)

// addresses is the table both rules are checked on.
var addresses = []struct {
	addr string
	ok   bool
}{
	{"http://10.0.0.5:8001", true},
	{"https://peer.example", true},
	{"https://peer.example:443/", true},
	{"http://[::1]:8001", true},
	{"http://127.0.0.1:8001/", true},
	{"http://h:1", true},
	{"http://h:65535", true},
	{"http://peer.example/x", false},
	{"http://peer.example/peerhub.peer.v1.PeerService/", false},
	{"http://peer.example:8001//", false},
	{"http://peer.example:8001/?", false},
	{"http://peer.example:8001?a=b", false},
	{"http://peer.example:8001?", false},
	{"http://peer.example:8001#frag", false},
	{"http://peer.example:8001#", false},
	{"http://user:pw@peer.example:8001", false},
	{"http://@peer.example", false},
	{"http://evil.example\\@peer.example", false},
	{"http://peer.example:8001 ", false},
	{"http://pe er.example", false},
	{"http://peer.example:0", false},
	{"http://peer.example:65536", false},
	{"http://peer.example:http", false},
	{"http://peer.example:08001", false},
	{"http://[fe80::1%25eth0]:8001", false},
	{"http://[::1", false},
	{"http://:8001", false},
	{"ftp://peer.example", false},
	{"peer.example:8001", false},
	{"http:peer.example", false},
	{"http://", false},
	{"", false},
	{"http://" + strings.Repeat("a", advertise.MaxLen), false},
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range addresses {
		err := advertise.Check(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, advertise.ErrInvalid) {
			t.Errorf("Check(%q) = %v, does not wrap ErrInvalid", tc.addr, err)
		}
	}
}

// TestProtoRuleAgrees checks that the rule of
// LoginRequest.advertise_address accepts exactly what Check accepts, so a
// request refused by one is refused by the other.
func TestProtoRuleAgrees(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range addresses {
		if tc.addr == "" {
			continue // an empty address is a client login, not an address
		}
		err := v.Validate(&directoryv1.LoginRequest{Username: "alice", Password: "pw", AdvertiseAddress: tc.addr})
		if (err == nil) != tc.ok {
			t.Errorf("proto rule on %q: %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}
