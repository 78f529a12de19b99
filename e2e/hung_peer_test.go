package e2e_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// A get whose only source is a peer process stopped with SIGSTOP (it holds
// its port and accepts connections in the kernel's backlog, but answers
// nothing) fails within 20 s with the default stall timeout, naming the
// peer; it took 78 s (five 15 s Stat timeouts and backoff) before.
func TestGetFromStoppedPeerFailsFast(t *testing.T) {
	t.Parallel()
	bin := buildPeerhub(t)
	n := testnet.Start(t, testnet.Options{})
	n.AddUser("sleeper")
	share := t.TempDir()
	if err := os.WriteFile(filepath.Join(share, "sleepy.bin"), testutil.RandBytes(1<<20, 21), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "peer", "--share", share, "--name", "sleeper", "--user", "sleeper",
		"--listen", "127.0.0.1:0", "--directory", n.DirectoryURL)
	cmd.Env = append(cleanEnv(), "PEERHUB_PASSWORD="+testnet.Password)
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	testutil.Eventually(t, 30*time.Second, "the peer process shares sleepy.bin", func() error {
		code, stdout, stderr := runCLI(t, n.DirectoryURL, "alice", "search", "sleepy.bin")
		if code != 0 || !strings.Contains(stdout, "1.0 MiB") {
			return errors.New("not listed yet: " + stderr + "\npeer: " + out.String())
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	code, _, stderr := runCLI(t, n.DirectoryURL, "alice", "get", "sleepy.bin", "-o", t.TempDir())
	elapsed := time.Since(start)
	t.Logf("get from a stopped peer failed after %v: %s", elapsed, stderr)
	if code == 0 {
		t.Fatal("exit 0 from a stopped peer")
	}
	if !strings.Contains(stderr, "sleeper") || !strings.Contains(stderr, "stalled") {
		t.Errorf("stderr does not name the stalled peer:\n%s", stderr)
	}
	if elapsed >= 20*time.Second {
		t.Errorf("took %v, want under 20 s", elapsed)
	}

	// get --wait outlasts the hang: once it says it waits (for the hung
	// source, or for any source once the directory, missing the stopped
	// peer's heartbeats, no longer lists it), the peer is continued, and
	// the download completes.
	outDir := t.TempDir()
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	var getOut, getErr testutil.SyncBuffer
	done := make(chan int, 1)
	start = time.Now()
	go func() {
		done <- cli.Run(t.Context(), []string{"get", "--wait", "60s", "--stall-timeout", "2s", "sleepy.bin", "-o", outDir}, cli.Streams{
			In: strings.NewReader(""), Out: &getOut, Err: &getErr,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
	}()
	testutil.Eventually(t, 30*time.Second, "get --wait says it waits", func() error {
		if !strings.Contains(getErr.String(), "Waiting for a source of sleepy.bin") {
			return errors.New("not waiting yet:\n" + getErr.String())
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		t.Logf("get --wait over a stopped-then-continued peer: exit %d after %v\n%s", code, time.Since(start), getErr.String())
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, getErr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("get --wait 60s still running after 90 s:\n%s", getErr.String())
	}
	if _, err := os.Stat(filepath.Join(outDir, "sleepy.bin")); err != nil {
		t.Error(err)
	}
}
