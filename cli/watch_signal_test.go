package cli_test

import (
	"strings"
	"syscall"
	"testing"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
)

// The built binary's live searches end on a real Ctrl-C (SIGINT) with exit
// 130 and no error text but "interrupted".
func TestWatchInterruptedBySignal(t *testing.T) {
	t.Parallel()
	bin := buildPeerhub(t)
	n := watchNetwork(t)
	n.AddPeer("s1", testnet.PeerOptions{Files: map[string][]byte{"signal.txt": []byte("signal\n")}})
	waitIndexed(t, n, "signal")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	for _, args := range [][]string{
		{"search", "--watch", "signal"},
		{"get", "--watch", "signal", "-o", t.TempDir()},
	} {
		r := startBinary(t, bin, env, args...)
		want := map[string]string{"search": "Watching for changes", "get": "Watching for files matching"}[args[0]]
		shows(t, r.err, want)
		if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := r.wait(t); code != cli.ExitInterrupted {
			t.Fatalf("%v: exit %d, want %d\nstderr: %s", args, code, cli.ExitInterrupted, r.err)
		}
		t.Logf("%v: stderr:\n%s", args, r.err)
		if strings.Contains(r.err.String(), "context canceled") || strings.Contains(r.err.String(), "Run 'peerhub") {
			t.Errorf("%v: stderr:\n%s", args, r.err)
		}
	}
}
