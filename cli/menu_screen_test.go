package cli_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
)

// menuScreen is a `peerhub menu` running on a pseudo-terminal, and what it
// has shown so far.
type menuScreen struct {
	t        *testing.T
	ptmx     *os.File
	scr      testutil.SyncBuffer
	consumed int // bytes of scr matched so far; scr only grows
	code     chan int
}

// menuEnv is the environment the menu logs in with: alice at n.
func menuEnv(n *testnet.Network) map[string]string {
	return map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
}

// startMenu runs `peerhub menu args...` in the test's process on a
// pseudo-terminal.
func startMenu(t *testing.T, n *testnet.Network, args ...string) *menuScreen {
	t.Helper()
	return startOnPTY(t, n, append([]string{"menu"}, args...)...)
}

// startOnPTY runs `peerhub args...` in the test's process on a
// pseudo-terminal, with n's directory and alice's account.
func startOnPTY(t *testing.T, n *testnet.Network, args ...string) *menuScreen {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	s := &menuScreen{t: t, ptmx: ptmx, code: make(chan int, 1)}
	go io.Copy(&s.scr, ptmx)
	env := menuEnv(n)
	go func() {
		defer tty.Close()
		s.code <- cli.Run(t.Context(), args, cli.Streams{
			In: tty, Out: tty, Err: tty,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
	}()
	return s
}

// startMenuBinary runs the peerhub binary bin's menu in a session of its
// own whose controlling terminal is a pseudo-terminal, so that a Ctrl-C
// typed there is a real SIGINT to it.
func startMenuBinary(t *testing.T, bin string, n *testnet.Network, args ...string) *menuScreen {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"menu"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range menuEnv(n) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	ptmx, err := pty.Start(cmd) // setsid, and the pty as controlling terminal
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		ptmx.Close()
	})
	s := &menuScreen{t: t, ptmx: ptmx, code: make(chan int, 1)}
	go io.Copy(&s.scr, ptmx)
	go func() {
		cmd.Wait()
		s.code <- cmd.ProcessState.ExitCode()
	}()
	return s
}

// next waits until the screen shows what after the previous match and
// returns the screen up to and including it: the next expectation looks
// only at what came after, so it cannot pass on earlier output.
func (s *menuScreen) next(what string) (passed string) {
	s.t.Helper()
	testutil.Eventually(s.t, 20*time.Second, fmt.Sprintf("the screen shows %q", what), func() error {
		rest := s.scr.String()[s.consumed:]
		i := strings.Index(rest, what)
		if i < 0 {
			return fmt.Errorf("not after the previous match; the screen since:\n%s\n(the whole screen:\n%s)", rest, s.scr.String())
		}
		passed = rest[:i+len(what)]
		s.consumed += len(passed)
		return nil
	})
	return passed
}

// expect waits until the screen shows what after the previous match.
func (s *menuScreen) expect(what string) {
	s.t.Helper()
	s.next(what)
}

// typeLine types s and Enter.
func (s *menuScreen) typeLine(line string) {
	s.t.Helper()
	s.typeRaw(line + "\n")
}

// typeRaw types keys as they are ("\x03" is Ctrl-C).
func (s *menuScreen) typeRaw(keys string) {
	s.t.Helper()
	if _, err := s.ptmx.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

// exitCode waits for the menu to end and returns its exit code.
func (s *menuScreen) exitCode() int {
	s.t.Helper()
	select {
	case c := <-s.code:
		return c
	case <-time.After(20 * time.Second):
		s.t.Fatalf("menu did not exit; the screen:\n%s", s.scr.String())
		return -1
	}
}

// download searches for query at the main menu, picks the first result
// and all its sources.
func (s *menuScreen) download(query string) {
	s.t.Helper()
	s.typeLine("1")
	s.expect("Search for")
	s.typeLine(query)
	s.expect("Download which")
	s.typeLine("1")
	s.expect("Download from which source")
	s.typeLine("")
}

// waitDone asks for the downloads list until it shows dest done.
func (s *menuScreen) waitDone(dest string) {
	s.t.Helper()
	s.waitListed("done: "+dest, 1)
}

// waitListed asks for the downloads list until it shows line count times.
func (s *menuScreen) waitListed(line string, count int) {
	s.t.Helper()
	testutil.Eventually(s.t, 20*time.Second, fmt.Sprintf("the downloads list shows %q %d times", line, count), func() error {
		s.typeLine("2")
		if list := s.next("Choose: "); strings.Count(list, line) != count {
			return fmt.Errorf("downloads list:\n%s", list)
		}
		return nil
	})
}
