package server_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server"
)

// toolWatch is a WatchSearch followed by an outside tool: the events as
// the tool printed them, and how the tool ended.
type toolWatch struct {
	events chan map[string]any
	ended  chan error           // the tool's exit, after events is closed
	stderr *testutil.SyncBuffer // the tool writes while a failing test reads
}

// next returns the next event the tool printed that is not a keepalive.
func (w *toolWatch) next(t *testing.T) map[string]any {
	t.Helper()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				t.Fatalf("the stream ended early: %v\n%s", <-w.ended, w.stderr)
			}
			if ev["type"] != "WATCH_EVENT_TYPE_KEEPALIVE" {
				return ev
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no event for 30 s\n%s", w.stderr)
		}
	}
}

// names are the names of an event's result.
func names(ev map[string]any) string {
	r, _ := ev["result"].(map[string]any)
	ns, _ := r["names"].([]any)
	return fmt.Sprint(ns...)
}

// startTool runs cmd, whose standard output parse turns into events.
func startTool(t *testing.T, cmd *exec.Cmd, parse func(io.Reader, chan<- map[string]any) error) *toolWatch {
	t.Helper()
	w := &toolWatch{events: make(chan map[string]any, 16), ended: make(chan error, 1), stderr: new(testutil.SyncBuffer)}
	cmd.Stderr = w.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		perr := parse(out, w.events)
		close(w.events)
		w.ended <- errors.Join(perr, cmd.Wait())
	}()
	return w
}

// followedScenario is what each tool is shown: the current match, a file
// published after the watch started, and the end of the watch when its
// session logs out (at the next keepalive, 200 ms here). It returns once
// the tool's output has ended; the caller checks how.
func followedScenario(t *testing.T, e *env, watcherToken string, w *toolWatch) {
	t.Helper()
	if ev := w.next(t); ev["type"] != "WATCH_EVENT_TYPE_CURRENT" || names(ev) != "music/song.ogg" {
		t.Fatalf("first event %v, want the current match", ev)
	}
	if ev := w.next(t); ev["type"] != "WATCH_EVENT_TYPE_SYNCED" {
		t.Fatalf("second event %v, want SYNCED", ev)
	}
	peer := e.login(bob, bobPW, "http://127.0.0.1:9002", "")
	e.publish(peer.GetToken(), snapshot(entry("new song.ogg", "new song")))
	if ev := w.next(t); ev["type"] != "WATCH_EVENT_TYPE_ADDED" || names(ev) != "new song.ogg" {
		t.Fatalf("after a publish: %v, want ADDED new song.ogg", ev)
	}
	if _, err := e.connectClient(watcherToken).Logout(t.Context(), connect.NewRequest(&directoryv1.LogoutRequest{})); err != nil {
		t.Fatal(err)
	}
	for range w.events {
	}
}

// grpcurl follows WatchSearch (a server stream) through reflection, as an
// operator would.
func TestWatchSearchGrpcurl(t *testing.T) {
	t.Parallel()
	e := start(t, watchConfig, func(cfg *server.Config) { cfg.Directory.WatchKeepalive = 200 * time.Millisecond })
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	e.publish(peer.GetToken(), snapshot(entry("music/song.ogg", "song")))
	watcher := e.login(alice, alicePW, "", "")

	root := testutil.RepoRoot(t)
	cmd := exec.CommandContext(t.Context(), "go", "tool", "-modfile="+filepath.Join(root, "tools", "go.mod"), "grpcurl",
		"-plaintext", "-H", "authorization: Bearer "+watcher.GetToken(), "-d", `{"query":"song"}`,
		e.addr, "peerhub.directory.v1.DirectoryService/WatchSearch")
	cmd.Dir = root
	w := startTool(t, cmd, func(r io.Reader, events chan<- map[string]any) error {
		// grpcurl prints each message as an indented JSON object.
		dec := json.NewDecoder(r)
		for {
			var ev map[string]any
			if err := dec.Decode(&ev); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			events <- ev
		}
	})
	followedScenario(t, e, watcher.GetToken(), w)
	if err := <-w.ended; err == nil || !strings.Contains(w.stderr.String(), "Unauthenticated") {
		t.Fatalf("after logout grpcurl ended with %v\n%s; want the stream ended as Unauthenticated", err, w.stderr)
	}
}

// curl follows WatchSearch in the Connect streaming protocol: an enveloped
// JSON request, enveloped JSON messages, and an end-of-stream message that
// carries the error.
func TestWatchSearchCurl(t *testing.T) {
	t.Parallel()
	curl := tool(t, "curl")
	e := start(t, watchConfig, func(cfg *server.Config) { cfg.Directory.WatchKeepalive = 200 * time.Millisecond })
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	e.publish(peer.GetToken(), snapshot(entry("music/song.ogg", "song")))
	watcher := e.login(alice, alicePW, "", "")

	req := []byte(`{"query":"song"}`)
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(req)))
	bodyFile := filepath.Join(t.TempDir(), "request")
	if err := os.WriteFile(bodyFile, append(body, req...), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), curl, "-sS", "-N", "--max-time", "60",
		"-H", "Content-Type: application/connect+json", "-H", "Authorization: Bearer "+watcher.GetToken(),
		"--data-binary", "@"+bodyFile, e.url+"/peerhub.directory.v1.DirectoryService/WatchSearch")
	var endOfStream map[string]any
	w := startTool(t, cmd, func(r io.Reader, events chan<- map[string]any) error {
		br := bufio.NewReader(r)
		for {
			var head [5]byte
			if _, err := io.ReadFull(br, head[:]); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			msg := make([]byte, binary.BigEndian.Uint32(head[1:]))
			if _, err := io.ReadFull(br, msg); err != nil {
				return err
			}
			var v map[string]any
			if err := json.Unmarshal(msg, &v); err != nil {
				return fmt.Errorf("message %q: %w", msg, err)
			}
			if head[0]&2 != 0 { // end of stream
				endOfStream = v
				return nil
			}
			events <- v
		}
	})
	followedScenario(t, e, watcher.GetToken(), w)
	if err := <-w.ended; err != nil {
		t.Fatalf("curl: %v\n%s", err, w.stderr)
	}
	if ee, _ := endOfStream["error"].(map[string]any); ee["code"] != "unauthenticated" {
		t.Fatalf("end of stream %v, want the error unauthenticated", endOfStream)
	}
}
