package cli_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server/directory"
)

// interruptible runs the command line in the background like started, with
// a context that interrupt cancels as Ctrl-C does (cli.Interrupted).
func interruptible(t *testing.T, env map[string]string, out, errb *testutil.SyncBuffer, args ...string) (done <-chan int, interrupt func()) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	t.Cleanup(func() { cancel(nil) })
	ch := make(chan int, 1)
	go func() {
		ch <- cli.Run(ctx, args, cli.Streams{
			In: strings.NewReader(""), Out: out, Err: errb,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
	}()
	return ch, func() { cancel(cli.Interrupted{Signal: os.Interrupt}) }
}

// shows waits until buf holds want.
func shows(t *testing.T, buf *testutil.SyncBuffer, want string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, fmt.Sprintf("output shows %q", want), func() error {
		if !strings.Contains(buf.String(), want) {
			return errors.New("not yet:\n" + buf.String())
		}
		return nil
	})
}

// exitsWith waits for the command's exit code.
func exitsWith(t *testing.T, done <-chan int, want int, stdout, stderr *testutil.SyncBuffer) {
	t.Helper()
	select {
	case code := <-done:
		if code != want {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after the interrupt\nstderr:\n%s", stderr)
	}
}

// watchNetwork is a test network whose live searches poll often.
func watchNetwork(t *testing.T) *testnet.Network {
	return testnet.Start(t, testnet.Options{Directory: directory.Config{WatchPoll: 50 * time.Millisecond}})
}

// search --watch prints the table, then a line as a peer comes with a
// matching file and another when it leaves; Ctrl-C ends it with 130. With
// --json each event is one object per line, compared with a golden file.
// Through a peer's URL (an access point) it works the same.
func TestSearchWatch(t *testing.T) {
	t.Parallel()
	n := watchNetwork(t)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"watched-1.txt": []byte("first\n"), "other.txt": []byte("other\n")}})
	waitIndexed(t, n, "watched-1")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	// Through a peer (an access point), which forwards the stream.
	viaPeer := map[string]string{"PEERHUB_DIRECTORY": p1.URL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	for i, run := range []struct {
		asJSON bool
		env    map[string]string
	}{{false, env}, {true, env}, {false, viaPeer}} {
		asJSON := run.asJSON
		var stdout, stderr testutil.SyncBuffer
		args := []string{"search", "--watch", "WATCHED"}
		if asJSON {
			args = append(args, "--json")
		}
		done, interrupt := interruptible(t, run.env, &stdout, &stderr, args...)
		peer := fmt.Sprintf("p2run%d", i)
		if asJSON {
			shows(t, &stdout, `"WATCH_EVENT_TYPE_SYNCED"`)
		} else {
			shows(t, &stderr, "Watching for changes")
			if !strings.Contains(stdout.String(), "NAME") || !strings.Contains(stdout.String(), "watched-1.txt  6 B") {
				t.Fatalf("no table of the current matches:\n%s", stdout.String())
			}
		}
		p2 := n.AddPeer(peer, testnet.PeerOptions{Files: map[string][]byte{"sub/watched-2.txt": []byte("second\n")}})
		if asJSON {
			shows(t, &stdout, `"WATCH_EVENT_TYPE_ADDED"`)
		} else {
			shows(t, &stdout, "added    sub/watched-2.txt  7 B")
		}
		if err := p2.Stop(); err != nil {
			t.Fatal(err)
		}
		if asJSON {
			shows(t, &stdout, `"WATCH_EVENT_TYPE_REMOVED"`)
		} else {
			shows(t, &stdout, "removed  sub/watched-2.txt  7 B")
		}
		interrupt()
		exitsWith(t, done, cli.ExitInterrupted, &stdout, &stderr)
		if asJSON {
			checkGolden(t, "search-watch", strings.ReplaceAll(stdout.String(), peer, "p2"), t.TempDir())
		} else if strings.Contains(stdout.String(), "other.txt") {
			t.Errorf("a file that does not match was shown:\n%s", stdout.String())
		}
	}
}
