package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// started runs the peerhub command line in-process in the background; the
// result arrives on the channel once it exits.
func started(t *testing.T, env map[string]string, out, errb *testutil.SyncBuffer, args ...string) <-chan int {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(t.Context(), args, cli.Streams{
			In: strings.NewReader(""), Out: out, Err: errb,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
	}()
	return done
}

// get --wait, with no peer sharing the file online, says it is waiting and
// succeeds once a peer that shares it starts (started after the waiting
// message, not after a fixed time).
func TestGetWaitsForASource(t *testing.T) {
	t.Parallel()
	content := testutil.RandBytes(2<<20+7, 11)
	n := testnet.Start(t, testnet.Options{})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	for _, asJSON := range []bool{false, true} {
		name := map[bool]string{false: "late.bin", true: "late-json.bin"}[asJSON]
		out := t.TempDir()
		args := []string{"get", "--wait", "30s", name, "-o", out}
		if asJSON {
			args = append(args, "--json")
		}
		var stdout, stderr testutil.SyncBuffer
		start := time.Now()
		done := started(t, env, &stdout, &stderr, args...)
		waiting := func() error {
			if asJSON {
				for line := range strings.Lines(stdout.String()) {
					var ev struct{ Event, Query string }
					if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "waiting" && ev.Query == name {
						return nil
					}
				}
			} else if strings.Contains(stderr.String(), "Waiting for a source of "+name) {
				return nil
			}
			return errors.New("no waiting message yet")
		}
		testutil.Eventually(t, 20*time.Second, "get says it is waiting", waiting)
		n.AddPeer("late"+map[bool]string{false: "", true: "json"}[asJSON], testnet.PeerOptions{Files: map[string][]byte{name: content}})
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
			}
		case <-time.After(40 * time.Second):
			t.Fatalf("get --wait 30s still running after 40 s\n%s", stderr.String())
		}
		t.Logf("json %v: get --wait succeeded after %v", asJSON, time.Since(start))
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("saved file: %v (%d bytes)", err, len(got))
		}
	}
}

// get --wait gives up after the wait with a message that says so, and get
// without --wait does not wait.
func TestGetWaitGivesUp(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	start := time.Now()
	r := run(t, env, "", "get", "--wait", "2s", "nowhere.bin", "-o", t.TempDir())
	elapsed := time.Since(start)
	if r.code == 0 {
		t.Fatalf("exit 0 for a file nobody shares")
	}
	if !strings.Contains(r.err, "Waiting for a source of nowhere.bin") || !strings.Contains(r.err, "within --wait 2s") {
		t.Errorf("stderr lacks the waiting and giving-up messages:\n%s", r.err)
	}
	if elapsed < 2*time.Second {
		t.Errorf("gave up after %v, before --wait 2s", elapsed)
	}

	// The wait and the stall timeout come from the environment too.
	r = run(t, map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password,
		"PEERHUB_WAIT": "1s", "PEERHUB_STALL_TIMEOUT": "3s"}, "", "get", "nowhere.bin", "-o", t.TempDir())
	if r.code == 0 || !strings.Contains(r.err, "within --wait 1s") {
		t.Errorf("PEERHUB_WAIT=1s: exit %d\n%s", r.code, r.err)
	}

	r = run(t, env, "", "get", "nowhere.bin", "-o", t.TempDir())
	if r.code == 0 || strings.Contains(r.err, "Waiting") {
		t.Errorf("get without --wait: exit %d\n%s", r.code, r.err)
	}
}

// A get whose only source hangs (the directory lists it at an address that
// accepts connections and never answers) fails within 20 s with the
// default stall timeout, naming the source.
func TestGetHungSourceFailsFast(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	n.AddPeer("frozen", testnet.PeerOptions{Files: map[string][]byte{"hung.bin": testutil.RandBytes(1<<20, 12)}, Advertise: testutil.HungListener(t)})
	waitIndexed(t, n, "hung.bin")

	start := time.Now()
	r := run(t, env, "", "get", "hung.bin", "-o", t.TempDir())
	elapsed := time.Since(start)
	t.Logf("get from a hung source failed after %v:\n%s", elapsed, r.err)
	if r.code == 0 {
		t.Fatal("exit 0 from a hung source")
	}
	if !strings.Contains(r.err, "frozen") || !strings.Contains(r.err, "stalled") {
		t.Errorf("stderr does not name the stalled source:\n%s", r.err)
	}
	if elapsed >= 20*time.Second {
		t.Errorf("took %v, want under 20 s", elapsed)
	}
}
