package cli_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestMenuThroughTerminal drives `peerhub menu` through a pseudo-terminal:
// search, choose a result and its sources, download in the background,
// watch progress, list peers, quit.
func TestMenuThroughTerminal(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	content := bytes.Repeat([]byte("peerhub menu test\n"), 200_000) // ~3.4 MiB: several pieces
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"video_menu.bin": content}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"copia/video_menu.bin": content}})
	waitIndexed(t, n, "video_menu")
	out := t.TempDir()

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	defer ptmx.Close()
	var scr syncBuffer
	go io.Copy(&scr, ptmx)

	code := make(chan int, 1)
	go func() {
		defer tty.Close()
		code <- cli.Run(t.Context(), []string{"menu", "-o", out}, cli.Streams{
			In: tty, Out: tty, Err: tty,
			LookupEnv: func(k string) (string, bool) {
				v, ok := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}[k]
				return v, ok
			},
		})
	}()
	// Each expectation consumes the screen up to its match: the next one
	// looks only at what came after, so it cannot pass on earlier output.
	consumed := 0 // bytes of scr matched so far; scr only grows
	next := func(what string) (passed string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, fmt.Sprintf("the screen shows %q", what), func() error {
			rest := scr.String()[consumed:]
			i := strings.Index(rest, what)
			if i < 0 {
				return fmt.Errorf("not after the previous match; the screen since:\n%s", rest)
			}
			passed = rest[:i+len(what)]
			consumed += len(passed)
			return nil
		})
		return passed
	}
	expect := func(what string) {
		t.Helper()
		next(what)
	}
	typeLine := func(s string) {
		t.Helper()
		if _, err := ptmx.Write([]byte(s + "\n")); err != nil {
			t.Fatal(err)
		}
	}

	expect("Choose: ")
	typeLine("3")
	expect("PEER")
	expect("p1")
	expect("p2")
	typeLine("1")
	expect("Search for")
	typeLine("video_menu")
	expect("2 sources")
	expect("Download which")
	typeLine("1")
	expect("Download from which source")
	typeLine("") // all sources
	expect("in the background")
	expect("Choose: ")
	// Ask for the downloads list until it shows the download done; each
	// answer is the list and the menu up to the next prompt.
	dest := filepath.Join(out, "video_menu.bin")
	testutil.Eventually(t, 20*time.Second, "the downloads list shows the download as done", func() error {
		typeLine("2")
		if list := next("Choose: "); !strings.Contains(list, "done: "+dest) {
			return fmt.Errorf("downloads list:\n%s", list)
		}
		return nil
	})
	typeLine("0")
	expect("Bye.")
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("menu exited %d:\n%s", c, scr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("menu did not exit")
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(content) {
		t.Fatal("downloaded content differs")
	}
}
