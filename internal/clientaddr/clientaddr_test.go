package clientaddr_test

import (
	"testing"

	"github.com/peerhub/peerhub/internal/clientaddr"
)

func TestOf(t *testing.T) {
	t.Parallel()
	for remote, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"192.0.2.1":                  "192.0.2.1",
		"[::ffff:10.0.0.1]:80":       "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:22":          "fe80::/64",
		"[::1]:8000":                 "::/64",
		"":                           "",
		"not an address":             "not an address",
	} {
		if got := clientaddr.Of(remote); got != want {
			t.Errorf("Of(%q) = %q, want %q", remote, got, want)
		}
	}
}
