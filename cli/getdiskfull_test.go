package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// doneEvent is the last line of get --json: what was fetched and resumed.
type doneEvent struct {
	Event   string `json:"event"`
	Fetched int64  `json:"fetchedBytes,string"`
	Resumed int64  `json:"resumedBytes,string"`
}

// lastDone returns the "done" event of get --json's output.
func lastDone(t *testing.T, out string) doneEvent {
	t.Helper()
	for line := range strings.Lines(out) {
		var ev doneEvent
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "done" {
			return ev
		}
	}
	t.Fatalf("no done event in:\n%s", out)
	return doneEvent{}
}

// TestGetDiskFull fills the disk in the middle of a get (the sixth piece
// write fails with ENOSPC, through an outfs.Faulty over the real folder):
// get stops with exit 1, says the disk is full and how to resume, and keeps
// only the partial file and its state. Run again with room, it fetches only
// the pieces the first run did not write.
func TestGetDiskFull(t *testing.T) {
	t.Parallel()
	const size = 12 << 20
	data := testutil.RandBytes(size, 411)
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"full.bin": data}})
	waitIndexed(t, n, "full.bin")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	out := t.TempDir()

	var o, e bytes.Buffer
	code := cli.Run(t.Context(), []string{"get", "--json", "full.bin", "-o", out}, cli.Streams{
		In: strings.NewReader(""), Out: &o, Err: &e,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		OpenFolder: func(dir string) (outfs.Folder, error) {
			d, err := outfs.Open(dir)
			if err != nil {
				return nil, err
			}
			f := outfs.NewFaulty(d)
			f.FailAfter(outfs.OpWrite, sharepath.PartialSuffix, 5)
			return f, nil
		},
	})
	if code != cli.ExitError {
		t.Fatalf("exit %d, want %d\nstderr: %s", code, cli.ExitError, e.String())
	}
	for _, s := range []string{"disk full", "no space left on device", "5.0 MiB of 12.0 MiB kept in " + filepath.Join(out, "full.bin"+sharepath.PartialSuffix),
		"free some disk space there, then run the same command again to resume"} {
		if !strings.Contains(e.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, e.String())
		}
	}
	if got, want := listDir(t, out), []string{"full.bin" + sharepath.PartialSuffix, "full.bin" + sharepath.StateSuffix}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}

	r := run(t, env, "", "get", "--json", "full.bin", "-o", out)
	if r.code != 0 {
		t.Fatalf("resumed get: exit %d\n%s", r.code, r.err)
	}
	if d := lastDone(t, r.out); d.Resumed != 5<<20 || d.Fetched != size-5<<20 {
		t.Errorf("resumed get fetched %d and resumed %d bytes, want %d and %d", d.Fetched, d.Resumed, size-5<<20, 5<<20)
	}
	if got := testutil.FileSHA256(t, filepath.Join(out, "full.bin")); got != testutil.SHA256Hex(data) {
		t.Fatalf("sha256 %s, want %s", got, testutil.SHA256Hex(data))
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"full.bin"}) {
		t.Fatalf("left %v, want only full.bin", got)
	}
}

// TestGetKilledWhileSaving kills a real `peerhub get` process (SIGKILL)
// while it saves its state once a second: the folder holds the partial
// file and the state file and nothing else (no temporary file), and the
// same command resumes what the state recorded.
func TestGetKilledWhileSaving(t *testing.T) {
	t.Parallel()
	bin := buildPeerhub(t)
	const size = 16 << 20
	data := testutil.RandBytes(size, 412)
	n := testnet.Start(t, testnet.Options{})
	// 4 MiB/s: a few saves before the kill.
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"kill.bin": data}, MaxRate: 4 << 20})
	waitIndexed(t, n, "kill.bin")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	out := t.TempDir()
	state := filepath.Join(out, "kill.bin"+sharepath.StateSuffix)

	r := startBinary(t, bin, env, "get", "--json", "kill.bin", "-o", out)
	// Killed once both of the state's records were saved (they are
	// written in turn, once a second), so a save is under way or due.
	testutil.Eventually(t, 30*time.Second, "both state records are saved", func() error {
		b, _ := os.ReadFile(state)
		if len(b) < 4096+7 || string(b[:7]) != "phstate" || string(b[4096:4096+7]) != "phstate" {
			return errors.New("not yet")
		}
		return nil
	})
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r.cmd.Wait()
	if got, want := listDir(t, out), []string{"kill.bin" + sharepath.PartialSuffix, "kill.bin" + sharepath.StateSuffix}; !slices.Equal(got, want) {
		t.Fatalf("after the kill: %v, want %v", got, want)
	}

	res := run(t, env, "", "get", "--json", "kill.bin", "-o", out)
	if res.code != 0 {
		t.Fatalf("resumed get: exit %d\n%s", res.code, res.err)
	}
	if d := lastDone(t, res.out); d.Resumed == 0 || d.Fetched+d.Resumed != size {
		t.Errorf("resumed get fetched %d and resumed %d bytes, want some resumed and %d in all", d.Fetched, d.Resumed, size)
	}
	if got := testutil.FileSHA256(t, filepath.Join(out, "kill.bin")); got != testutil.SHA256Hex(data) {
		t.Fatalf("sha256 %s, want %s", got, testutil.SHA256Hex(data))
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"kill.bin"}) {
		t.Fatalf("left %v, want only kill.bin", got)
	}
}
