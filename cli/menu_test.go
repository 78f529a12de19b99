package cli_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/sharepath"
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

	s := startMenu(t, n, "-o", out)
	s.expect("Choose: ")
	s.typeLine("3")
	s.expect("PEER")
	s.expect("p1")
	s.expect("p2")
	s.typeLine("1")
	s.expect("Search for")
	s.typeLine("video_menu")
	s.expect("2 sources")
	s.expect("Download which")
	s.typeLine("1")
	s.expect("Download from which source")
	s.typeLine("") // all sources
	s.expect("in the background")
	s.expect("Choose: ")
	dest := filepath.Join(out, "video_menu.bin")
	s.waitDone(dest)
	s.typeLine("0")
	s.expect("Bye.")
	if c := s.exitCode(); c != 0 {
		t.Fatalf("menu exited %d:\n%s", c, s.scr.String())
	}
	assertContent(t, dest, content)
}

// TestMenuOutputFolderAndReplace: `menu -o` with a folder that is not
// there makes it (as `get -o` does) and the download lands in it; fetching
// a file whose name is taken there asks whether to replace it: n keeps the
// file there, y replaces it.
func TestMenuOutputFolderAndReplace(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	content := bytes.Repeat([]byte("peerhub menu replace\n"), 50_000)
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"replace_menu.bin": content}})
	waitIndexed(t, n, "replace_menu")
	out := filepath.Join(t.TempDir(), "not", "there")
	dest := filepath.Join(out, "replace_menu.bin")

	s := startMenu(t, n, "-o", out)
	s.expect("Choose: ")
	s.download("replace_menu")
	s.expect("in the background")
	s.expect("Choose: ")
	s.waitDone(dest)
	assertContent(t, dest, content)

	mine := []byte("my own file of that name\n")
	if err := os.WriteFile(dest, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	s.download("replace_menu")
	s.expect(dest + " exists. Replace it? [y/N] ")
	s.typeLine("n")
	if got := s.next("Choose: "); !strings.Contains(got, "Kept "+dest) || strings.Contains(got, "in the background") {
		t.Fatalf("after n:\n%s", got)
	}
	assertContent(t, dest, mine)

	s.download("replace_menu")
	s.expect(dest + " exists. Replace it? [y/N] ")
	s.typeLine("y")
	s.expect("in the background")
	s.expect("Choose: ")
	// The first download of dest is listed done already: wait for the
	// list to show it done twice.
	s.waitListed("done: "+dest, 2)
	assertContent(t, dest, content)
	s.typeLine("0")
	s.expect("Bye.")
	if c := s.exitCode(); c != 0 {
		t.Fatalf("menu exited %d:\n%s", c, s.scr.String())
	}
	if strings.Contains(s.scr.String(), "force") {
		t.Fatalf("the menu advises force:\n%s", s.scr.String())
	}
}

// TestMenuCtrlC runs the peerhub binary's menu with a pseudo-terminal as
// its controlling terminal and types Ctrl-C: at a prompt, with no download
// running, the menu ends with exit 130 at once; with one running, the
// first Ctrl-C leaves it running (not failed) and the second stops it,
// its partial file kept to resume.
func TestMenuCtrlC(t *testing.T) {
	t.Parallel()
	bin := buildPeerhub(t)
	n := testnet.Start(t, testnet.Options{})
	content := bytes.Repeat([]byte("peerhub menu ctrl-c\n"), 200_000) // ~3.8 MiB
	// 256 KiB/s: the download runs for many seconds, long enough for
	// both Ctrl-Cs; it is stopped, never waited for.
	n.AddPeer("slow", testnet.PeerOptions{Files: map[string][]byte{"ctrlc_menu.bin": content}, MaxRate: 256 << 10})
	waitIndexed(t, n, "ctrlc_menu")

	t.Run("at the prompt", func(t *testing.T) {
		s := startMenuBinary(t, bin, n, "-o", t.TempDir())
		s.expect("Choose: ")
		s.typeRaw("\x03")
		if c := s.exitCode(); c != cli.ExitInterrupted {
			t.Fatalf("menu exited %d, want %d:\n%s", c, cli.ExitInterrupted, s.scr.String())
		}
		s.expect("peerhub: menu: interrupted")
		if scr := s.scr.String(); strings.Contains(scr, "context canceled") || strings.Contains(scr, "Error:") {
			t.Fatalf("the screen:\n%s", scr)
		}
	})

	t.Run("with a download running", func(t *testing.T) {
		out := t.TempDir()
		dest := filepath.Join(out, "ctrlc_menu.bin")
		s := startMenuBinary(t, bin, n, "-o", out)
		s.expect("Choose: ")
		s.download("ctrlc_menu")
		s.expect("in the background")
		s.expect("Choose: ")
		// Until a piece is verified there is nothing to resume, and a
		// download stopped then leaves no partial file: wait for one.
		started := regexp.MustCompile(`ctrlc_menu\.bin +([1-9][0-9]?)% of [1-9].*downloading`)
		testutil.Eventually(t, 20*time.Second, "the downloads list shows a piece of the download done", func() error {
			s.typeLine("2")
			if list := s.next("Choose: "); !started.MatchString(list) {
				return fmt.Errorf("downloads list:\n%s", list)
			}
			return nil
		})
		s.typeRaw("\x03")
		s.expect("Interrupted: waiting for 1 download to finish; Ctrl-C again stops it")
		s.typeRaw("\x03")
		s.expect("stopped: 'peerhub get' resumes it")
		if c := s.exitCode(); c != cli.ExitInterrupted {
			t.Fatalf("menu exited %d, want %d:\n%s", c, cli.ExitInterrupted, s.scr.String())
		}
		if scr := s.scr.String(); strings.Contains(scr, "context canceled") || strings.Contains(scr, "failed") {
			t.Fatalf("the screen:\n%s", scr)
		}
		if _, err := os.Stat(dest + sharepath.PartialSuffix); err != nil {
			t.Fatalf("partial file: %v", err)
		}
		if _, err := os.Stat(dest); err == nil {
			t.Fatal("the stopped download is complete")
		}
	})
}

// assertContent checks that the file at path holds want.
func assertContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("%s: content differs", path)
	}
}
