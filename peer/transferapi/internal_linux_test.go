package transferapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// childEnv marks the process TestInternalErrorHidden starts as the peer.
const childEnv = "PEERHUB_TEST_INTERNAL_ERROR_PEER"

// fileSizeLimit is the largest file the peer of TestInternalErrorHidden may
// write (RLIMIT_FSIZE, in bytes): an upload past it fails with EFBIG, a real
// write error whose text names the temporary file by its absolute path.
const fileSizeLimit = 1 << 20

// TestInternalErrorHidden checks the peer's error policy with a real
// failure: a peer whose writes stop at fileSizeLimit (a full disk, as far as
// it can tell) is sent a larger upload. The caller must get Internal with a
// request id and nothing of the cause (the share's path, the system error);
// the peer's log must hold the cause once, under that request id.
//
// The limit applies to a whole process, so the peer runs in a child process
// (this test binary, in the branch below).
func TestInternalErrorHidden(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		serveWithFileSizeLimit(t)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInternalErrorHidden$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("peer did not start: %v\n%s", err, logs.String())
	}
	var addr, tok, share string
	if _, err := fmt.Sscan(line, &addr, &tok, &share); err != nil {
		t.Fatalf("peer's first line %q: %v", line, err)
	}
	e := &env{addr: addr, http: rpcclient.NewHTTPClient()}
	data := testutil.RandBytes(2*fileSizeLimit, 21)
	_, err = connectCaller{e.client(tok)}.upload(t.Context(), header("big.bin", data), chunksOf(data, 256<<10))
	e.http.CloseIdleConnections()
	stdin.Close() // the peer stops
	if werr := cmd.Wait(); werr != nil {
		t.Errorf("peer process: %v\n%s", werr, logs.String())
	}

	ce, ok := err.(*connect.Error)
	if !ok || ce.Code() != connect.CodeInternal {
		t.Fatalf("Upload past the peer's file size limit: %v, want Internal", err)
	}
	msg := ce.Message()
	for _, secret := range []string{share, "file too large", transfer.IncomingDir, ".upload"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the caller learns %q: %q", secret, msg)
		}
	}
	_, id, found := strings.Cut(msg, "request_id ")
	if !found || id == "" {
		t.Fatalf("message %q names no request id", msg)
	}

	// The cause is in the peer's log, once, under the request id.
	var causes []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) != nil {
			continue // the test framework's own lines
		}
		if s, _ := rec["error"].(string); strings.Contains(s, "file too large") {
			causes = append(causes, rec)
		}
	}
	if len(causes) != 1 {
		t.Fatalf("the cause is logged %d times, want once:\n%s", len(causes), logs.String())
	}
	if got := causes[0]["request_id"]; got != id {
		t.Errorf("logged under request_id %v, the caller was told %s", got, id)
	}
	if s, _ := causes[0]["error"].(string); !strings.Contains(s, share) {
		t.Errorf("the log lacks the file's path: %q", s)
	}
}

// serveWithFileSizeLimit is the child of TestInternalErrorHidden: a peer
// that accepts uploads, may write files of fileSizeLimit bytes at most, and
// logs JSON to stderr. It prints its address, a valid token and its shared
// folder, and serves until its standard input closes.
func serveWithFileSizeLimit(t *testing.T) {
	// Past the limit the kernel sends SIGXFSZ, which would end the
	// process; ignored, the write fails with EFBIG instead.
	signal.Ignore(syscall.SIGXFSZ)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: fileSizeLimit, Max: fileSizeLimit}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	e := newEnv(t, transfer.Options{AcceptUploads: true, Logger: log}, nil)
	fmt.Printf("%s %s %s\n", e.addr, e.tokens.valid, e.dir)
	io.Copy(io.Discard, os.Stdin)
}
