package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// result is what one in-process run of the command line produced.
type result struct {
	code     int
	out, err string
}

// run runs the peerhub command line in-process with env as its whole
// environment.
func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), args, cli.Streams{
		In: strings.NewReader(stdin), Out: &out, Err: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	return result{code: code, out: out.String(), err: errb.String()}
}

// waitIndexed waits until the directory returns a search hit for query.
func waitIndexed(t *testing.T, n *testnet.Network, query string) {
	t.Helper()
	s := session.New(session.Config{Directory: n.DirectoryURL, Username: "alice", Password: testnet.Password})
	if err := s.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Logout(context.Background())
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("%q appears in search", query), func() error {
		res, err := s.Client().Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
		if err == nil && len(res.Msg.GetResults()) == 0 {
			err = errors.New("no result")
		}
		return err
	})
}

func TestClientCommands(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"archivo1_p1.txt": []byte("hola p1\n"), "docs/informe.csv": []byte("a,b\n1,2\n")}})
	p2 := n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"archivo1_p2.txt": []byte("hola p2\n")}})
	waitIndexed(t, n, "archivo1_p1")
	waitIndexed(t, n, "archivo1_p2")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	wrongPW := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": "nope"}
	noPW := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice"}
	viaPeer := map[string]string{"PEERHUB_DIRECTORY": p2.URL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		out, err []string // substrings expected
		notOut   []string
	}{
		{name: "search", env: env, args: []string{"search", "archivo"}, out: []string{"NAME", "ACCOUNTS", "archivo1_p1.txt", "archivo1_p2.txt", "8 B"}, notOut: []string{"informe"}},
		// The password goes to the directory the peer names, and the user
		// is told where.
		{name: "search through a peer", env: viaPeer, args: []string{"search", "ARCHIVO1_P1"}, out: []string{"archivo1_p1.txt"}, err: []string{"access point", n.DirectoryURL}},
		{name: "search by SHA-256 in upper case", env: env, args: []string{"search", strings.ToUpper(testutil.SHA256Hex([]byte("hola p2\n")))}, out: []string{"archivo1_p2.txt"}, notOut: []string{"archivo1_p1"}},
		{name: "search nothing", env: env, args: []string{"search", "zzzzzz"}, out: []string{"No online peer shares"}},
		{name: "search too short", env: env, args: []string{"search", "ab"}, code: 1, err: []string{"invalid input", "query"}},
		{name: "search no args", env: env, args: []string{"search"}, code: 2, err: []string{"accepts 1 arg"}},
		{name: "peers", env: env, args: []string{"peers"}, out: []string{"PEER", "ACCOUNT", "p1", "p2", n.DirectoryURL[:len("http://127.0.0.1:")]}},
		{name: "files", env: env, args: []string{"files"}, out: []string{"docs/informe.csv", "archivo1_p2.txt"}},
		{name: "files of one peer", env: env, args: []string{"files", "--peer", "p2"}, out: []string{"archivo1_p2.txt"}, notOut: []string{"informe"}},
		{name: "wrong password", env: wrongPW, args: []string{"peers"}, code: 1, err: []string{"not logged in"}},
		{name: "no password", env: noPW, args: []string{"peers"}, code: 1, err: []string{"PEERHUB_PASSWORD"}},
		{name: "bad directory URL", env: map[string]string{"PEERHUB_USER": "alice", "PEERHUB_PASSWORD": "x", "PEERHUB_DIRECTORY": "ftp://x"}, args: []string{"peers"}, code: 2, err: []string{"--directory"}},
		{name: "unreachable directory", env: map[string]string{"PEERHUB_USER": "alice", "PEERHUB_PASSWORD": "x", "PEERHUB_DIRECTORY": "http://127.0.0.1:1"}, args: []string{"peers"}, code: 1, err: []string{"cannot reach"}},
		{name: "health directory", env: nil, args: []string{"health", n.DirectoryURL}, out: []string{"SERVING"}},
		{name: "health peer", env: nil, args: []string{"health", p2.URL}, out: []string{"SERVING"}},
		{name: "health down", env: nil, args: []string{"health", "--timeout", "1s", "http://127.0.0.1:1"}, code: 1},
		{name: "unknown command", env: nil, args: []string{"frobnicate"}, code: 2, err: []string{"unknown command"}},
		{name: "bad log format", env: nil, args: []string{"--log-format", "xml", "version"}, code: 2, err: []string{"--log-format"}},
		{name: "version", env: nil, args: []string{"version"}, out: []string{"peerhub ", "commit ", "go1."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.env, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.out, r.err)
			}
			for _, s := range tt.out {
				if !strings.Contains(r.out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.out)
				}
			}
			for _, s := range tt.notOut {
				if strings.Contains(r.out, s) {
					t.Errorf("stdout has %q:\n%s", s, r.out)
				}
			}
			for _, s := range tt.err {
				if !strings.Contains(r.err, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.err)
				}
			}
		})
	}

	t.Run("search json", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "", "search", "--json", "archivo1_p2")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.err)
		}
		var got struct {
			Results []struct {
				Sha256  string
				Names   []string
				Sources []struct{ Peer, Address string }
			}
		}
		if err := json.Unmarshal([]byte(r.out), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.out)
		}
		if len(got.Results) != 1 || got.Results[0].Names[0] != "archivo1_p2.txt" || got.Results[0].Sources[0].Peer != "p2" || got.Results[0].Sources[0].Address != p2.URL {
			t.Fatalf("unexpected results: %+v", got)
		}
	})
}

// TestPutIgnoresPeerName guards against an environment collision: inside a
// peer container PEERHUB_NAME names the peer daemon, and must not rename a
// file that put uploads.
func TestPutIgnoresPeerName(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p := n.AddPeer("p1", testnet.PeerOptions{AcceptUploads: true})
	local := filepath.Join(t.TempDir(), "notas.txt")
	if err := os.WriteFile(local, []byte("notas"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password, "PEERHUB_NAME": "p2"}
	// AddPeer returns before the peer's login: wait until it is online.
	testutil.Eventually(t, 10*time.Second, "p1 is online", func() error {
		if r := run(t, env, "", "peers"); !strings.Contains(r.out, p.URL) {
			return fmt.Errorf("peers: %s%s", r.out, r.err)
		}
		return nil
	})
	if r := run(t, env, "", "put", local, "--to", p.URL); r.code != 0 {
		t.Fatalf("put: exit %d: %s", r.code, r.err)
	}
	if _, err := os.Stat(filepath.Join(p.Share, "notas.txt")); err != nil {
		t.Fatalf("not stored under its own name: %v", err)
	}
}
