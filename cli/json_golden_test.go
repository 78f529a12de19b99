package cli_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
)

// update rewrites the golden files of TestJSONGolden instead of comparing:
// go test ./cli/ -run TestJSONGolden -update
var update = flag.Bool("update", false, "rewrite cli/testdata/*.golden from the current output")

// volatileKeys are the JSON fields whose values change from run to run
// (clocks, rates, durations); normalise keeps their type, not their value.
var volatileKeys = []string{
	"elapsedSeconds", "bytesPerSecond", "lastSeen", "onlineSince", "started", "rate", "until", "modified",
	// Reachability depends on when the dial-back ended.
	"reachability",
	// A progress event's counters depend on when the reporter ticked.
	"doneBytes", "piecesDone", "sources",
}

var (
	volatileRE = regexp.MustCompile(`"(` + strings.Join(volatileKeys, "|") + `)":("[^"]*"|-?[0-9][0-9.eE+-]*)`)
	portRE     = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// normalise replaces the volatile parts of one line of JSON, keeping its
// field order: the values of volatileKeys (by their type), loopback
// ports, and tmp, the test's temporary folder.
func normalise(line, tmp string) string {
	line = volatileRE.ReplaceAllStringFunc(line, func(kv string) string {
		k, v, _ := strings.Cut(kv, ":")
		if strings.HasPrefix(v, `"`) {
			return k + `:"STRING"`
		}
		return k + `:NUMBER`
	})
	line = strings.ReplaceAll(line, tmp, "TMP")
	return portRE.ReplaceAllString(line, "127.0.0.1:PORT")
}

// checkGolden checks that out is JSON objects one per line and that their
// normalised text (consecutive equal lines kept once, since progress
// events come as often as the clock says) matches testdata/NAME.golden.
func checkGolden(t *testing.T, name, out, tmp string) {
	t.Helper()
	var got strings.Builder
	var last string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: line %q is not one JSON object: %v", name, sc.Text(), err)
		}
		if line := normalise(sc.Text(), tmp) + "\n"; line != last {
			got.WriteString(line)
			last = line
		}
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli/ -run TestJSONGolden -update to create it)", err)
	}
	if got.String() != string(want) {
		t.Errorf("%s --json differs from %s (after normalising):\ngot:\n%swant:\n%s", name, path, got.String(), want)
	}
}

// TestJSONGolden runs every command that has --json against a test network
// with fixed content and compares the shape of its output with a golden
// file; empty results are tested too, since they must be explicit.
func TestJSONGolden(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"golden.txt": []byte("golden content\n")}, AcceptUploads: true})
	waitIndexed(t, n, "golden.txt")
	alice := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	owner := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "p1", "PEERHUB_PASSWORD": testnet.Password, "PEERHUB_NAME": "p1"}
	tmp := t.TempDir()
	upload := filepath.Join(tmp, "up.txt")
	if err := os.WriteFile(upload, []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		golden string
		env    map[string]string
		args   []string
		code   int
	}{
		{"search", alice, []string{"search", "--json", "golden"}, 0},
		{"search-empty", alice, []string{"search", "--json", "zzzzzz"}, 0},
		{"peers", alice, []string{"peers", "--json"}, 0},
		{"files", alice, []string{"files", "--json", "--peer", "p1"}, 0},
		{"files-empty", alice, []string{"files", "--json", "--peer", "nobody"}, 0},
		{"status", owner, []string{"status", "--json"}, 0},
		// Nobody shares it: one waiting event a second, then exit 1.
		{"get-waiting", alice, []string{"get", "--json", "--wait", "1500ms", "nowhere.txt", "-o", filepath.Join(tmp, "out")}, 1},
		{"get", alice, []string{"get", "--json", "golden.txt", "-o", filepath.Join(tmp, "out")}, 0},
		{"put", alice, []string{"put", "--json", upload, "--to", "p1", "--as", "inbox/up.txt"}, 0},
	}
	// In order: put changes what p1 shares, so it runs last.
	for _, c := range cases {
		r := run(t, c.env, "", c.args...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", c.golden, r.code, c.code, r.out, r.err)
			continue
		}
		checkGolden(t, c.golden, r.out, tmp)
	}

	// The menu has no JSON: asking for it is a usage error.
	if r := run(t, alice, "", "menu", "--json"); r.code != 2 || !strings.Contains(r.err, "--json") {
		t.Errorf("menu --json: exit %d, want 2\n%s", r.code, r.err)
	}
}
