package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// ambiguousGet runs `peerhub get query` without a terminal, where query
// matches several contents: it must exit 1, name each of want on stderr
// (the candidates) and write nothing.
func ambiguousGet(t *testing.T, env map[string]string, query string, want ...string) {
	t.Helper()
	out := t.TempDir()
	r := run(t, env, "", "get", query, "-o", out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.out, r.err)
	}
	for _, s := range want {
		if !strings.Contains(r.err, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.err)
		}
	}
	if names := listDir(t, out); len(names) != 0 {
		t.Errorf("an ambiguous get left %v", names)
	}
}

func TestGetAndPut(t *testing.T) {
	t.Parallel()
	big := make([]byte, 3<<20+99)
	for i := range big {
		big[i] = byte(i*31 + i>>12)
	}
	twinA, twinB := []byte("same name, first content\n"), []byte("same name, second content\n")
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"big.bin": big, "twin.txt": twinA}, AcceptUploads: true})
	p2 := n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"media/big.bin": big, "twin.txt": twinB}})
	waitIndexed(t, n, "big.bin")
	waitIndexed(t, n, "twin.txt")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	withEnv := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	local := filepath.Join(t.TempDir(), "refused.txt")
	if err := os.WriteFile(local, []byte("refused\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The group returns once its parallel subtests are done.
	t.Run("commands", func(t *testing.T) { getAndPut(t, env, withEnv, big, twinA, twinB, local, p1, p2) })
	for _, p := range []string{p1.Share, p2.Share} {
		if _, err := os.Stat(filepath.Join(p, "refused.txt")); err == nil {
			t.Errorf("a refused upload left %s/refused.txt", p)
		}
	}
}

func getAndPut(t *testing.T, env map[string]string, withEnv func(...string) map[string]string, big, twinA, twinB []byte, local string, p1, p2 *testnet.Peer) {
	bigSHA := testutil.SHA256Hex(big)
	t.Run("get by name", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		r := run(t, env, "", "get", "big.bin", "-o", out)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.err)
		}
		if got, err := os.ReadFile(filepath.Join(out, "big.bin")); err != nil || testutil.SHA256Hex(got) != bigSHA {
			t.Fatalf("saved file: %v", err)
		}
		if !strings.Contains(r.out, filepath.Join(out, "big.bin")) || !strings.Contains(r.out, bigSHA) {
			t.Errorf("final line lacks the path or the sha256: %q", r.out)
		}
		if names := listDir(t, out); len(names) != 1 {
			t.Errorf("output folder holds %v, want only big.bin", names)
		}
	})

	t.Run("get by sha256 into PEERHUB_OUTPUT_DIR", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "new", "folder")
		r := run(t, withEnv("PEERHUB_OUTPUT_DIR", out), "", "get", bigSHA)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.err)
		}
		if got, err := os.ReadFile(filepath.Join(out, "big.bin")); err != nil || testutil.SHA256Hex(got) != bigSHA {
			t.Fatalf("saved file: %v", err)
		}
	})

	t.Run("get json", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		r := run(t, env, "", "get", "--json", "-o", out, "big.bin")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.err)
		}
		var events []map[string]any
		sc := bufio.NewScanner(strings.NewReader(r.out))
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
			}
			events = append(events, ev)
		}
		if len(events) < 2 {
			t.Fatalf("want progress events and a result, got %q", r.out)
		}
		if ev := events[len(events)-2]; ev["event"] != "progress" || ev["doneBytes"] != strconv.Itoa(len(big)) {
			t.Errorf("last progress event %v, want all bytes done", ev)
		}
		if ev := events[len(events)-1]; ev["event"] != "done" || ev["sha256"] != bigSHA || ev["path"] != filepath.Join(out, "big.bin") {
			t.Errorf("result event %v", ev)
		}
	})

	t.Run("get ambiguous name without a terminal", func(t *testing.T) {
		t.Parallel()
		ambiguousGet(t, env, "twin.txt", testutil.SHA256Hex(twinA), testutil.SHA256Hex(twinB), "2 different files")
	})

	t.Run("get existing file", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		dest := filepath.Join(out, "big.bin")
		if err := os.WriteFile(dest, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, env, "", "get", "big.bin", "-o", out)
		if r.code != 1 || !strings.Contains(r.err, "--force") {
			t.Fatalf("exit %d, want 1 with a hint at --force\n%s", r.code, r.err)
		}
		if b, _ := os.ReadFile(dest); string(b) != "mine" {
			t.Fatal("get replaced an existing file without --force")
		}
		if names := listDir(t, out); len(names) != 1 {
			t.Errorf("output folder holds %v", names)
		}
		r = run(t, env, "", "get", "big.bin", "-o", out, "--force")
		if r.code != 0 {
			t.Fatalf("--force: exit %d\n%s", r.code, r.err)
		}
		if b, _ := os.ReadFile(dest); testutil.SHA256Hex(b) != bigSHA {
			t.Fatal("--force did not replace the file")
		}
	})

	t.Run("put by peer name", func(t *testing.T) {
		t.Parallel()
		local := filepath.Join(t.TempDir(), "upload.txt")
		if err := os.WriteFile(local, []byte("uploaded by put\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, env, "", "put", local, "--to", "p1", "--as", "inbox/upload.txt")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.err)
		}
		if !strings.Contains(r.out, "inbox/upload.txt") || !strings.Contains(r.out, "p1") {
			t.Errorf("stdout %q lacks the stored name or the peer", r.out)
		}
		got, err := os.ReadFile(filepath.Join(p1.Share, "inbox", "upload.txt"))
		if err != nil || string(got) != "uploaded by put\n" {
			t.Fatalf("stored file: %q, %v", got, err)
		}
	})

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		err  []string
	}{
		{name: "get unknown name", env: env, args: []string{"get", "no-such-file.bin", "-o", t.TempDir()}, code: 1, err: []string{"no online peer shares"}},
		{name: "get wrong password", env: withEnv("PEERHUB_PASSWORD", "nope"), args: []string{"get", "big.bin", "-o", t.TempDir()}, code: 1, err: []string{"not logged in"}},
		{name: "get no argument", env: env, args: []string{"get"}, code: 2},
		{name: "put unknown peer", env: env, args: []string{"put", local, "--to", "nobody"}, code: 1, err: []string{`no online peer is called "nobody"`}},
		{name: "put refused by peer", env: env, args: []string{"put", local, "--to", p2.URL}, code: 1, err: []string{"not allowed", "uploads are disabled"}},
		{name: "put name taken", env: env, args: []string{"put", local, "--to", "p1", "--as", "big.bin"}, code: 1, err: []string{"already exists"}},
		{name: "put wrong password", env: withEnv("PEERHUB_PASSWORD", "nope"), args: []string{"put", local, "--to", "p1"}, code: 1, err: []string{"not logged in"}},
		{name: "put missing file", env: env, args: []string{"put", filepath.Join(t.TempDir(), "nope"), "--to", "p1"}, code: 1, err: []string{"no such file"}},
		{name: "put without --to", env: env, args: []string{"put", local}, code: 2, err: []string{"--to"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.env, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.out, r.err)
			}
			for _, s := range tt.err {
				if !strings.Contains(r.err, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.err)
				}
			}
		})
	}
}
