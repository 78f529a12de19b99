package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestHashPrefixes uses abbreviated hashes wherever the CLI takes a
// SHA-256 (search, get, the menu's search), with two real contents whose
// hashes share their first 8 hex digits: the shared prefix lists both, one
// digit more names one, in either case.
func TestHashPrefixes(t *testing.T) {
	t.Parallel()
	a, b := testutil.HashPrefixCollision(3)
	ha, hb := testutil.SHA256Hex(a), testutil.SHA256Hex(b)
	n := 8 // the digits they share
	for ha[n] == hb[n] {
		n++
	}
	shared, onlyA := ha[:8], strings.ToUpper(ha[:n+1])
	net := testnet.Start(t, testnet.Options{})
	net.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"first.txt": a}})
	net.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"second.txt": b, fmt.Sprintf("%s.txt", hb[:10]): []byte("a file named like a hash prefix\n")}})
	env := map[string]string{"PEERHUB_DIRECTORY": net.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	testutil.Eventually(t, 10*time.Second, "both contents are indexed", func() error {
		if r := run(t, env, "", "search", shared); !strings.Contains(r.out, "first.txt") || !strings.Contains(r.out, "second.txt") {
			return fmt.Errorf("search %s: %s%s", shared, r.out, r.err)
		}
		return nil
	})

	t.Run("search by the shared prefix lists both", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "", "search", strings.ToUpper(shared))
		if r.code != 0 || !strings.Contains(r.out, "first.txt") || !strings.Contains(r.out, "second.txt") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("search by a longer prefix finds one", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "", "search", onlyA)
		if r.code != 0 || !strings.Contains(r.out, "first.txt") || strings.Contains(r.out, "second.txt") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("search by a name that looks like a prefix", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "", "search", hb[:10]+".txt")
		if r.code != 0 || !strings.Contains(r.out, hb[:10]+".txt") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("get by the shared prefix lists the candidates", func(t *testing.T) {
		t.Parallel()
		ambiguousGet(t, env, shared, "2 different files", ha, hb, "first.txt", "second.txt")
	})
	t.Run("get by an unambiguous prefix in upper case", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		r := run(t, env, "", "get", onlyA, "-o", out)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.err)
		}
		if got, err := os.ReadFile(filepath.Join(out, "first.txt")); err != nil || string(got) != string(a) {
			t.Fatalf("saved file: %q, %v", got, err)
		}
	})
	t.Run("menu search by prefix", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "1\n"+shared+"\n\n0\n", "menu", "-o", t.TempDir())
		if r.code != 0 || !strings.Contains(r.out, "first.txt") || !strings.Contains(r.out, "second.txt") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	})
	t.Run("seven digits are a name", func(t *testing.T) {
		t.Parallel()
		// It finds the file named after the hash, not the contents.
		r := run(t, env, "", "search", ha[:7])
		if r.code != 0 || !strings.Contains(r.out, hb[:10]+".txt") || strings.Contains(r.out, "first.txt") || strings.Contains(r.out, "second.txt") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	})
}
