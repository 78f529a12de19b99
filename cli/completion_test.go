package cli_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/e2e/testnet"
)

// completions runs cobra's __complete as the shell scripts do and returns
// the offered names (without the final ":directive" line) and that line.
func completions(t *testing.T, env map[string]string, args ...string) (names []string, directive string, r result) {
	t.Helper()
	r = run(t, env, "", append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s", args, r.code, r.err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(r.out), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		if line != "" {
			names = append(names, line)
		}
	}
	return names, directive, r
}

// TestNameCompletion completes file names (get, search) and peer names (put
// --to, files --peer) from a running directory, and offers nothing, fast
// and silently, without a session.
func TestNameCompletion(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("alpha", testnet.PeerOptions{Files: map[string][]byte{"archivo1.txt": []byte("1"), "music/song.ogg": []byte("2")}})
	n.AddPeer("bravo", testnet.PeerOptions{Files: map[string][]byte{"archivo2.txt": []byte("3"), "notes.md": []byte("4")}})
	waitIndexed(t, n, "archivo1")
	waitIndexed(t, n, "archivo2")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	noPassword := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice"}
	// A directory that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	silent := map[string]string{"PEERHUB_DIRECTORY": "http://" + ln.Addr().String(), "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"get by name", env, []string{"get", "arch"}, []string{"archivo1.txt", "archivo2.txt"}},
		{"get in another case", env, []string{"get", "ARCHIVO1"}, []string{"archivo1.txt"}},
		{"get with flags before", env, []string{"get", "-o", "/tmp", "mus"}, []string{"music/song.ogg"}},
		{"get with a short prefix", env, []string{"get", "no"}, []string{"notes.md"}},
		{"get everything", env, []string{"get", ""}, []string{"archivo1.txt", "archivo2.txt", "music/song.ogg", "notes.md"}},
		{"get a second name", env, []string{"get", "archivo1.txt", "arch"}, []string{"archivo1.txt", "archivo2.txt"}},
		{"search takes one query", env, []string{"search", "archivo1.txt", "arch"}, nil},
		{"get --folder peers", env, []string{"get", "--folder", ""}, []string{"alpha:", "bravo:"}},
		{"get --folder a peer's folders", env, []string{"get", "--folder", "alpha:m"}, []string{"alpha:music"}},
		{"search", env, []string{"search", "archivo"}, []string{"archivo1.txt", "archivo2.txt"}},
		{"put --to", env, []string{"put", "x.txt", "--to", ""}, []string{"alpha", "bravo"}},
		{"put --to a prefix", env, []string{"put", "x.txt", "--to", "b"}, []string{"bravo"}},
		{"files --peer", env, []string{"files", "--peer", "al"}, []string{"alpha"}},
		{"directory from the flag", map[string]string{"PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password},
			[]string{"get", "--directory", n.DirectoryURL, "arch"}, []string{"archivo1.txt", "archivo2.txt"}},
		{"no password", noPassword, []string{"get", "arch"}, nil},
		{"no account", nil, []string{"put", "x", "--to", ""}, nil},
		{"wrong password", map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": "nope"}, []string{"get", "arch"}, nil},
		{"a directory that does not answer", silent, []string{"get", "arch"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			names, directive, r := completions(t, tt.env, tt.args...)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("completion took %v", took)
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.want) {
				t.Errorf("offered %q, want %q\n%s", names, tt.want, r.out)
			}
			want := ":4" // ShellCompDirectiveNoFileComp
			if slices.Contains(tt.args, "--folder") {
				want = ":6" // and NoSpace: PEER: goes on with a folder
			}
			if directive != want {
				t.Errorf("directive %q, want %s", directive, want)
			}
			if strings.Contains(r.err, "peerhub:") || strings.Contains(r.err, "Password") {
				t.Errorf("completion spoke on stderr:\n%s", r.err)
			}
		})
	}
}
