package cli_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestNameRelease releases peer names: the owner's "name release" (refused
// while its peer is online, and for another account), and the
// administrator's "directory name release" on the directory's data.
func TestNameRelease(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "bob"}})
	box := n.AddPeer("box", testnet.PeerOptions{User: "alice"})
	waitOnline := func(name string) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, name+" comes online", func() error {
			if !strings.Contains(run(t, as(n, "bob"), "", "peers").out, name) {
				return errors.New("not listed by peers")
			}
			return nil
		})
	}
	waitOnline("box")
	for _, tc := range []struct {
		name string
		user string
		args []string
		code int
		out  string
		err  string
	}{
		{"online peer", "alice", []string{"name", "release", "box"}, 1, "", "online"},
		{"not the owner", "bob", []string{"name", "release", "box"}, 1, "", "not one of account bob's"},
		{"bad name", "alice", []string{"name", "release", "../box"}, 2, "", "name"},
	} {
		r := run(t, as(n, tc.user), "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.out, tc.out) || !strings.Contains(r.err, tc.err) {
			t.Errorf("%s: exit %d (want %d)\n%s%s", tc.name, r.code, tc.code, r.out, r.err)
		}
	}
	if err := box.Stop(); err != nil {
		t.Fatal(err)
	}
	if r := run(t, as(n, "alice"), "", "name", "release", "box"); r.code != 0 || !strings.Contains(r.out, "released peer name box") {
		t.Fatalf("owner's release: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// bob's peer takes the name; the administrator takes it back, on the
	// directory's data, while the directory runs.
	n.AddPeer("box", testnet.PeerOptions{User: "bob"})
	waitOnline("box")
	admin := run(t, nil, "", "directory", "name", "release", "box", "--data", n.DataDir())
	if admin.code != 0 || !strings.Contains(admin.out, "released peer name box (it belonged to account bob)") {
		t.Fatalf("directory name release: exit %d\n%s%s", admin.code, admin.out, admin.err)
	}
	if r := run(t, nil, "", "directory", "name", "release", "nothing", "--data", n.DataDir()); r.code != 1 || !strings.Contains(r.err, "no account owns it") {
		t.Errorf("releasing a free name: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// as is the environment of a client command as user.
func as(n *testnet.Network, user string) map[string]string {
	return map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": user, "PEERHUB_PASSWORD": testnet.Password}
}
