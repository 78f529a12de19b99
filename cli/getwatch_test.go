package cli_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// get --watch is a wishlist: a match already complete in the output folder
// is skipped, one that a peer publishes after get started is downloaded
// (verified, by real peer daemons), a restart of the directory does not end
// it, and Ctrl-C ends it with 130.
func TestGetWatchDownloadsNewMatches(t *testing.T) {
	t.Parallel()
	n := watchNetwork(t)
	have := []byte("already here\n")
	n.AddPeer("w0", testnet.PeerOptions{Files: map[string][]byte{"wish-0.txt": have}})
	waitIndexed(t, n, "wish-0")
	out := t.TempDir()
	testutil.WriteFile(t, out, "wish-0.txt", have)
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	var stdout, stderr testutil.SyncBuffer
	done, interrupt := interruptible(t, env, &stdout, &stderr, "get", "--watch", "wish-", "-o", out)
	shows(t, &stderr, "Watching for files matching")
	shows(t, &stdout, "Have "+filepath.Join(out, "wish-0.txt")+" already")

	late := testutil.RandBytes(3<<20+5, 21)
	n.AddPeer("w1", testnet.PeerOptions{Files: map[string][]byte{"music/wish-1.bin": late}})
	shows(t, &stdout, "Saved "+filepath.Join(out, "wish-1.bin"))
	if got, err := os.ReadFile(filepath.Join(out, "wish-1.bin")); err != nil || !bytes.Equal(got, late) {
		t.Fatalf("saved file: %v (%d bytes, want %d)", err, len(got), len(late))
	}

	// The directory restarts: get --watch opens the live search again
	// and downloads what is published afterwards.
	n.StopDirectory()
	shows(t, &stderr, "The live search ended")
	n.StartDirectory()
	later := testutil.RandBytes(1<<20+3, 22)
	n.AddPeer("w2", testnet.PeerOptions{Files: map[string][]byte{"wish-2.bin": later}})
	shows(t, &stdout, "Saved "+filepath.Join(out, "wish-2.bin"))
	if got, err := os.ReadFile(filepath.Join(out, "wish-2.bin")); err != nil || !bytes.Equal(got, later) {
		t.Fatalf("saved file after the restart: %v (%d bytes, want %d)", err, len(got), len(later))
	}

	interrupt()
	exitsWith(t, done, cli.ExitInterrupted, &stdout, &stderr)
	if strings.Count(stdout.String(), "Saved ") != 2 {
		t.Errorf("want exactly two downloads (nothing twice after the restart):\n%s", stdout.String())
	}
}

// TestGetWatchThroughRelay: a match whose only source is behind NAT
// (nothing listens at its advertised address; it waits at the directory's
// relay) is downloaded through the relay, as by a plain get.
func TestGetWatchThroughRelay(t *testing.T) {
	t.Parallel()
	n := watchNetwork(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://" + ln.Addr().String()
	ln.Close()
	out := t.TempDir()
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	var stdout, stderr testutil.SyncBuffer
	done, interrupt := interruptible(t, env, &stdout, &stderr, "get", "--watch", "natwish-", "-o", out)
	shows(t, &stderr, "Watching for files matching")
	content := testutil.RandBytes(1<<20+7, 23)
	n.AddPeer("behind", testnet.PeerOptions{Files: map[string][]byte{"natwish-1.bin": content}, Relay: "always", Advertise: nowhere})
	shows(t, &stdout, "Saved "+filepath.Join(out, "natwish-1.bin"))
	if got, err := os.ReadFile(filepath.Join(out, "natwish-1.bin")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("saved file: %v (%d bytes, want %d)", err, len(got), len(content))
	}
	interrupt()
	exitsWith(t, done, cli.ExitInterrupted, &stdout, &stderr)
}
