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
var volatileKeys = map[string]bool{
	"elapsedSeconds": true, "bytesPerSecond": true, "lastSeen": true, "loggedIn": true,
	"started": true, "rate": true, "uptime": true, "since": true, "until": true,
	// A progress event's counters depend on when the reporter ticked.
	"doneBytes": true, "piecesDone": true,
}

var (
	portRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
)

// normalise replaces the volatile parts of one decoded JSON value: the
// values of volatileKeys, loopback ports, RFC 3339 times and tmp, the test's
// temporary folder.
func normalise(v any, key, tmp string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			// Keys naming a source (host:port) are volatile too.
			out[portRE.ReplaceAllString(k, "127.0.0.1:PORT")] = normalise(e, k, tmp)
		}
		return out
	case []any:
		for i := range x {
			x[i] = normalise(x[i], key, tmp)
		}
		return x
	case string:
		switch {
		case volatileKeys[key] || timeRE.MatchString(x):
			return "STRING"
		case tmp != "" && strings.HasPrefix(x, tmp):
			x = "TMP" + strings.TrimPrefix(x, tmp)
		}
		return portRE.ReplaceAllString(x, "127.0.0.1:PORT")
	case float64:
		if volatileKeys[key] {
			return "NUMBER"
		}
	}
	return v
}

// checkGolden checks that out is JSON objects one per line and that their
// normalised form (consecutive equal lines kept once, since progress
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
		b, err := json.Marshal(normalise(v, "", tmp))
		if err != nil {
			t.Fatal(err)
		}
		if line := string(b) + "\n"; line != last {
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
	}{
		{"search", alice, []string{"search", "--json", "golden"}},
		{"search-empty", alice, []string{"search", "--json", "zzzzzz"}},
		{"peers", alice, []string{"peers", "--json"}},
		{"files", alice, []string{"files", "--json", "--peer", "p1"}},
		{"files-empty", alice, []string{"files", "--json", "--peer", "nobody"}},
		{"status", owner, []string{"status", "--json"}},
		{"get", alice, []string{"get", "--json", "golden.txt", "-o", filepath.Join(tmp, "out")}},
		{"put", alice, []string{"put", "--json", upload, "--to", "p1", "--as", "inbox/up.txt"}},
	}
	// In order: put changes what p1 shares, so it runs last.
	for _, c := range cases {
		r := run(t, c.env, "", c.args...)
		if r.code != 0 {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", c.golden, r.code, r.out, r.err)
			continue
		}
		checkGolden(t, c.golden, r.out, tmp)
	}

	// The menu has no JSON: asking for it is a usage error.
	if r := run(t, alice, "", "menu", "--json"); r.code != 2 || !strings.Contains(r.err, "--json") {
		t.Errorf("menu --json: exit %d, want 2\n%s", r.code, r.err)
	}
}
