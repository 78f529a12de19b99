package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestListingsSayWhatTheyCut: with more results than a listing's default
// (search 200, files 1000), search, files and peers say on standard error
// how many they left out, and --all pages through every one.
func TestListingsSayWhatTheyCut(t *testing.T) {
	t.Parallel()
	const count = 1234
	files := map[string][]byte{}
	for i := range count {
		files[fmt.Sprintf("item-%04d.txt", i)] = fmt.Appendf(nil, "content %d\n", i)
	}
	// A slow heartbeat: peers stay listed while the machine is busy
	// hashing and listing thousands of files under -race.
	n := testnet.Start(t, testnet.Options{Heartbeat: 5 * time.Second})
	n.AddPeer("p1", testnet.PeerOptions{Files: files})
	n.AddPeer("p2", testnet.PeerOptions{})
	n.AddPeer("p3", testnet.PeerOptions{})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	testutil.Eventually(t, 30*time.Second, "every file and peer is listed", func() error {
		r := run(t, env, "", "files", "--all")
		if got := strings.Count(r.out, "item-"); got != count {
			return fmt.Errorf("files --all: %d of %d files (exit %d, %s)", got, count, r.code, r.err)
		}
		if r := run(t, env, "", "peers"); strings.Count(r.out, "http://") != 3 {
			return fmt.Errorf("peers: %s", r.out)
		}
		return nil
	})

	for _, tt := range []struct {
		args  []string
		lines int    // listed lines of results
		note  string // on standard error; "" for none
	}{
		{[]string{"search", "item-"}, 200, "200 of 1 234 shown; --limit or --all for more"},
		{[]string{"search", "item-", "--limit", "1100"}, 1100, "1 100 of 1 234 shown; --limit or --all for more"},
		{[]string{"search", "item-", "--all"}, count, ""},
		{[]string{"files"}, 1000, "1 000 of 1 234 shown; --limit or --all for more"},
		{[]string{"files", "--limit", "1234"}, count, ""},
		{[]string{"files", "--all"}, count, ""},
		{[]string{"peers", "--limit", "2"}, 2, "2 of 3 shown; --limit or --all for more"},
		{[]string{"peers", "--all"}, 3, ""},
	} {
		r := run(t, env, "", tt.args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", tt.args, r.code, r.err)
			continue
		}
		got := strings.Count(r.out, "\n") - 1 // the header
		if got != tt.lines {
			t.Errorf("%v: %d lines, want %d", tt.args, got, tt.lines)
		}
		if note := strings.TrimSpace(r.err); note != tt.note {
			t.Errorf("%v: standard error %q, want %q", tt.args, note, tt.note)
		}
	}
	if r := run(t, env, "", "search", "item-", "--json"); strings.Count(r.out, `"sha256"`) != 200 || strings.TrimSpace(r.err) != "200 of 1 234 shown; --limit or --all for more" {
		t.Errorf("search --json: %d results, standard error %q", strings.Count(r.out, `"sha256"`), r.err)
	}
}
