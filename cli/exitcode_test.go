package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
)

// buildPeerhub builds the peerhub binary into a folder of the test.
func buildPeerhub(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "peerhub")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/peerhub/peerhub")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// binaryRun is a started peerhub process and its outputs.
type binaryRun struct {
	cmd      *exec.Cmd
	out, err *testutil.SyncBuffer
}

// startBinary starts the peerhub binary with args, env as its whole
// environment (besides PATH and a HOME of its own) and stdin from
// /dev/null, as under cron or systemd.
func startBinary(t *testing.T, bin string, env map[string]string, args ...string) *binaryRun {
	t.Helper()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devNull.Close() })
	r := &binaryRun{cmd: exec.Command(bin, args...), out: &testutil.SyncBuffer{}, err: &testutil.SyncBuffer{}}
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = devNull, r.out, r.err
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

// wait waits for the process to exit and returns its exit code.
func (r *binaryRun) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if _, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
			t.Fatal(err)
		}
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		r.cmd.Process.Kill()
		t.Fatalf("%v did not exit\nstdout: %s\nstderr: %s", r.cmd.Args, r.out, r.err)
		return -1
	}
}

// TestExitCodes runs the built binary for each exit code of docs/CLI.md:
// 0 ok, 1 an error of the command (a server's refusal included, whatever
// its words), 2 a usage error (only from parsing the command line), 130
// interrupted by Ctrl-C and 143 by SIGTERM.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	bin := buildPeerhub(t)
	n := testnet.Start(t, testnet.Options{})
	big := testutil.RandBytes(32<<20, 14)
	twinA, twinB := []byte("twin, first content\n"), []byte("twin, second content\n")
	// A slow source (512 KiB/s: a minute for slow.bin) keeps a get
	// running until it is interrupted.
	n.AddPeer("slow", testnet.PeerOptions{Files: map[string][]byte{"slow.bin": big, "twin.txt": twinA}, MaxRate: 512 << 10})
	n.AddPeer("inbox", testnet.PeerOptions{Files: map[string][]byte{"twin.txt": twinB}, AcceptUploads: true, MaxUploadSize: 2 << 10})
	waitIndexed(t, n, "slow.bin")
	testutil.Eventually(t, 10*time.Second, "both twins are indexed", func() error {
		if r := run(t, map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}, "", "search", "twin.txt"); strings.Count(r.out, "twin.txt") != 2 {
			return fmt.Errorf("search shows %q", r.out)
		}
		return nil
	})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	tooBig := filepath.Join(t.TempDir(), "too-big.bin")
	if err := os.WriteFile(tooBig, testutil.RandBytes(5<<10, 3), 0o644); err != nil {
		t.Fatal(err)
	}
	usageLine := "--help' for usage."

	tests := []struct {
		name    string
		args    []string
		code    int
		err     []string // substrings of stderr
		notErr  []string // not in stderr
		outPart string   // substring of stdout
	}{
		{name: "ok", args: []string{"peers"}, code: cli.ExitOK, outPart: "slow"},
		{name: "ok --version", args: []string{"--version"}, code: cli.ExitOK, outPart: "commit "},
		{name: "server refuses a put over the size cap", args: []string{"put", tooBig, "--to", "inbox"}, code: cli.ExitError,
			err:    []string{"limit reached", "upload too large", "5.0 KiB", "2.0 KiB"},
			notErr: []string{usageLine, "try again", "5120 bytes"}},
		{name: "server rejects a query", args: []string{"search", "ab"}, code: cli.ExitError, err: []string{"invalid input"}, notErr: []string{usageLine}},
		{name: "ambiguous name with stdin from /dev/null lists the candidates", args: []string{"get", "twin.txt", "-o", t.TempDir()}, code: cli.ExitError,
			err:    []string{"2 different files", testutil.SHA256Hex(twinA), testutil.SHA256Hex(twinB)},
			notErr: []string{"Which one?", usageLine}},
		{name: "missing argument", args: []string{"search"}, code: cli.ExitUsage, err: []string{"accepts 1 arg", "Run 'peerhub search --help' for usage."}},
		{name: "too many arguments", args: []string{"peers", "x"}, code: cli.ExitUsage, err: []string{"Run 'peerhub peers --help' for usage."}},
		{name: "unknown flag", args: []string{"get", "--nope", "x"}, code: cli.ExitUsage, err: []string{"unknown flag: --nope", usageLine}},
		{name: "bad flag value", args: []string{"files", "--limit", "many"}, code: cli.ExitUsage, err: []string{"--limit", usageLine}},
		{name: "unknown command", args: []string{"serch", "x"}, code: cli.ExitUsage, err: []string{`unknown command "serch"`, "did you mean search?", usageLine}},
		{name: "put without --to", args: []string{"put", tooBig}, code: cli.ExitUsage, err: []string{"--to", usageLine}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startBinary(t, bin, env, tt.args...)
			code := r.wait(t)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, r.out, r.err)
			}
			for _, s := range tt.err {
				if !strings.Contains(r.err.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.err)
				}
			}
			for _, s := range tt.notErr {
				if strings.Contains(r.err.String(), s) {
					t.Errorf("stderr has %q:\n%s", s, r.err)
				}
			}
			if !strings.Contains(r.out.String(), tt.outPart) {
				t.Errorf("stdout lacks %q:\n%s", tt.outPart, r.out)
			}
		})
	}

	for _, sig := range []struct {
		signal syscall.Signal
		code   int
	}{{syscall.SIGINT, cli.ExitInterrupted}, {syscall.SIGTERM, 143}} {
		t.Run("get interrupted by "+sig.signal.String(), func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			r := startBinary(t, bin, env, "get", "--json", "slow.bin", "-o", out)
			partial := filepath.Join(out, "slow.bin"+sharepath.PartialSuffix)
			// Interrupted once a piece is verified, get keeps the partial
			// file (with nothing verified it would remove it).
			testutil.Eventually(t, 30*time.Second, "a piece is verified", func() error {
				if !regexp.MustCompile(`"pieces_?[dD]one":\s*"?[1-9]`).MatchString(r.out.String()) {
					return errors.New("not yet")
				}
				return nil
			})
			if err := r.cmd.Process.Signal(sig.signal); err != nil {
				t.Fatal(err)
			}
			code := r.wait(t)
			if code != sig.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, sig.code, r.err)
			}
			for _, s := range []string{"interrupted", "kept in", "run the same command again to resume"} {
				if !strings.Contains(r.err.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.err)
				}
			}
			if strings.Contains(r.err.String(), usageLine) || strings.Contains(r.err.String(), "context canceled") {
				t.Errorf("stderr:\n%s", r.err)
			}
			if _, err := os.Stat(partial); err != nil {
				t.Errorf("the partial file is gone: %v", err)
			}
			if _, err := os.Stat(filepath.Join(out, "slow.bin")); err == nil {
				t.Error("an interrupted get left a complete file")
			}
		})
	}
}

// TestAmbiguousGetWithoutTerminal runs get in-process with standard input
// from /dev/null, a character device that is no terminal: get must list
// the candidates instead of prompting.
func TestAmbiguousGetWithoutTerminal(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	a, b := []byte("one twin\n"), []byte("another twin\n")
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"twin.txt": a}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"twin.txt": b}})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	testutil.Eventually(t, 10*time.Second, "both twins are indexed", func() error {
		if r := run(t, env, "", "search", "twin.txt"); strings.Count(r.out, "twin.txt") != 2 {
			return fmt.Errorf("search shows %q", r.out)
		}
		return nil
	})
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), []string{"get", "twin.txt", "-o", t.TempDir()}, cli.Streams{
		In: devNull, Out: &out, Err: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if code != cli.ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitError, errb.String())
	}
	if strings.Contains(errb.String(), "Which one?") {
		t.Errorf("get prompted with stdin from /dev/null:\n%s", errb.String())
	}
	for _, s := range []string{testutil.SHA256Hex(a), testutil.SHA256Hex(b)} {
		if !strings.Contains(errb.String(), s) {
			t.Errorf("stderr lacks candidate %s:\n%s", s, errb.String())
		}
	}
}
