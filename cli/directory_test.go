package cli_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/cli"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
)

// runCLI runs peerhub with args and stdin, returning the exit code and
// outputs.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut testutil.SyncBuffer
	code := cli.Run(t.Context(), args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestDirectoryUserCommands(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	steps := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantOut  string // regexp matched against stdout
		wantErr  string // regexp matched against stderr
	}{
		{"add alice", "alice-secret\n", []string{"directory", "user", "add", "alice", "--data", data}, cli.ExitOK, `^added user alice\n$`, ``},
		{"add bob, no newline", "bob-secret", []string{"directory", "user", "add", "bob", "--data", data}, cli.ExitOK, `^added user bob\n$`, ``},
		{"add alice again", "x\n", []string{"directory", "user", "add", "alice", "--data", data}, cli.ExitError, `^$`, `already exists`},
		{"add without password", "", []string{"directory", "user", "add", "carol", "--data", data}, cli.ExitError, `^$`, `no password on standard input`},
		{"add bad name", "pw\n", []string{"directory", "user", "add", "../carol", "--data", data}, cli.ExitUsage, `^$`, `name "../carol"`},
		{"add too long password", strings.Repeat("p", 73) + "\n", []string{"directory", "user", "add", "carol", "--data", data}, cli.ExitError, `^$`, `1 to 72 bytes`},
		{"add on memory", "pw\n", []string{"directory", "user", "add", "carol", "--store", "memory"}, cli.ExitUsage, `^$`, `--store memory forgets`},
		{"add without name", "pw\n", []string{"directory", "user", "add", "--data", data}, cli.ExitUsage, `^$`, `accepts 1 arg`},
		{"list", "", []string{"directory", "user", "list", "--data", data}, cli.ExitOK, `(?s)^NAME\s+SOURCE\s+CREATED\nalice\s+store\s+\d{4}-\d\d-\d\d [\d:]+Z\s*\nbob\s+store\s+`, ``},
		{"remove bob", "", []string{"directory", "user", "remove", "bob", "--data", data}, cli.ExitOK, `^removed user bob\n$`, ``},
		{"remove bob again", "", []string{"directory", "user", "remove", "bob", "--data", data}, cli.ExitError, `^$`, `not found`},
		{"list after remove", "", []string{"directory", "user", "list", "--data", data}, cli.ExitOK, `(?s)^NAME.*\nalice\s+store[^\n]*\n$`, ``},
	}
	for _, s := range steps {
		code, out, errOut := runCLI(t, s.stdin, s.args...)
		if code != s.wantCode || !regexp.MustCompile(s.wantOut).MatchString(out) || (s.wantErr != "" && !regexp.MustCompile(s.wantErr).MatchString(errOut)) {
			t.Errorf("%s: peerhub %s\nexit %d (want %d)\nstdout: %q (want %s)\nstderr: %q (want %s)", s.name, strings.Join(s.args, " "), code, s.wantCode, out, s.wantOut, errOut, s.wantErr)
		}
		if strings.Contains(out+errOut, "secret") {
			t.Errorf("%s: a password was printed: %q %q", s.name, out, errOut)
		}
	}
}

func TestDirectoryHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "", "directory", "--help")
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--listen", "[$PEERHUB_LISTEN]", "[$PEERHUB_DATA]", "[$PEERHUB_STORE]", "[$PEERHUB_HEARTBEAT]", "[$PEERHUB_ACCOUNTS]", "[$PEERHUB_TLS_CERT]", "[$PEERHUB_MAX_ACCOUNT_WATCHES]", "[$PEERHUB_WATCH_POLL]", "user add NAME"} {
		if !strings.Contains(out, want) {
			t.Errorf("directory --help lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut := runCLI(t, "", "directory", "--store", "mysql")
	if code != cli.ExitUsage || !strings.Contains(errOut, "want sqlite") {
		t.Errorf("--store mysql: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "directory", "--watch-poll", "-1s", "--store", "memory")
	if code != cli.ExitUsage || !strings.Contains(errOut, "watch poll") {
		t.Errorf("--watch-poll -1s: exit %d, %q", code, errOut)
	}
}

// TestDirectoryServe starts "peerhub directory" in-process on a free port,
// learns the port from its "listening on" line, logs in, and stops it.
func TestDirectoryServe(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCLI(t, "alice-secret\n", "directory", "user", "add", "alice", "--data", data); code != cli.ExitOK {
		t.Fatalf("user add: %s", errOut)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut testutil.SyncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Run(ctx, []string{"directory", "--listen", "127.0.0.1:0", "--data", data, "--heartbeat", "2s", "--log-level", "warn"}, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	}()
	re := regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+#sha256//\S+)`)
	var url string
	testutil.Eventually(t, 30*time.Second, "the directory logs its listening line", func() error {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			url = m[1]
			return nil
		}
		select {
		case code := <-exit:
			t.Fatalf("directory exited with %d: %s", code, errOut.String())
		default:
		}
		return fmt.Errorf("not yet: %s", errOut.String())
	})
	// The line's URL carries the pin: the client trusts that key only.
	base, hc, err := rpcclient.DirectoryClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := directoryv1connect.NewDirectoryServiceClient(hc, base)
	info, err := c.GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{}))
	if err != nil || info.Msg.GetHeartbeatInterval().AsDuration() != 2*time.Second {
		t.Fatalf("GetInfo = %v, %v", info, err)
	}
	if _, err := c.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "alice", Password: "alice-secret"})); err != nil {
		t.Fatalf("login: %v", err)
	}
	cancel()
	select {
	case code := <-exit:
		if code != cli.ExitOK {
			t.Errorf("exit %d after shutdown: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("directory did not stop")
	}
	if strings.Contains(errOut.String()+out.String(), "alice-secret") {
		t.Error("the password was logged")
	}
}

// TestDirectoryEnv sets flags from PEERHUB_* variables (not parallel:
// it changes the environment).
func TestDirectoryEnv(t *testing.T) {
	data := filepath.Join(t.TempDir(), "env-data")
	t.Setenv("PEERHUB_DATA", data)
	if code, _, errOut := runCLI(t, "pw-from-env\n", "directory", "user", "add", "erin"); code != cli.ExitOK {
		t.Fatalf("user add with PEERHUB_DATA: %s", errOut)
	}
	code, out, errOut := runCLI(t, "", "directory", "user", "list", "--data", data)
	if code != cli.ExitOK || !strings.Contains(out, "erin") {
		t.Errorf("list: exit %d, %q %q", code, out, errOut)
	}
	t.Setenv("PEERHUB_STORE", "bogus")
	if code, _, errOut := runCLI(t, "", "directory", "user", "list"); code != cli.ExitUsage || !strings.Contains(errOut, "want sqlite") {
		t.Errorf("PEERHUB_STORE=bogus: exit %d, %q", code, errOut)
	}
}
