package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestDemoFlow runs `peerhub demo` in-process and the seed's scenario
// against it with the command line: search finds p2's file, get downloads
// it into p1's shared folder and p1 becomes a source, put stores a file of
// p2's on p3, and Ctrl-C stops everything cleanly.
func TestDemoFlow(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var out testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"demo", "--base-port", "0", "--data", data, "--heartbeat", "1s", "--insecure-plaintext"}, cli.Streams{
			In: strings.NewReader(""), Out: &out, Err: &testutil.SyncBuffer{},
			LookupEnv: func(string) (string, bool) { return "", false },
		})
	}()
	var dirURL string
	re := regexp.MustCompile(`directory\s+(http://\S+)`)
	testutil.Eventually(t, 60*time.Second, "the demo prints its banner", func() error {
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("no banner yet:\n%s", out.String())
		}
		dirURL = m[1]
		return nil
	})
	env := map[string]string{"PEERHUB_DIRECTORY": dirURL, "PEERHUB_USER": "demo", "PEERHUB_PASSWORD": cli.DemoPassword}

	// Each peer's dashboard may log in at the directory from the browser;
	// other origins may not.
	peerURL := regexp.MustCompile(`p1 (http://\S+)`).FindStringSubmatch(out.String())
	if peerURL == nil {
		t.Fatalf("no p1 URL in the banner:\n%s", out.String())
	}
	for origin, want := range map[string]string{peerURL[1]: peerURL[1], "http://elsewhere.example": ""} {
		_, h := testutil.Preflight(t, dirURL+"/peerhub.directory.v1.DirectoryService/Login", origin, http.MethodPost, "Connect-Protocol-Version", "Content-Type")
		if got := h.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
		}
	}
	search := func(q string) string {
		r := run(t, env, "", "search", q)
		if r.code != 0 {
			t.Fatalf("search %s: exit %d: %s", q, r.code, r.err)
		}
		return r.out
	}
	testutil.Eventually(t, 20*time.Second, "p2's file is found", func() error { return contains(search("archivo1_p2"), "archivo1_p2.txt") })

	// get into p1's shared folder: p1 becomes a second source.
	p1 := filepath.Join(data, "p1")
	if r := run(t, env, "", "get", "archivo1_p2.txt", "-o", p1); r.code != 0 {
		t.Fatalf("get: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
	got, err := os.ReadFile(filepath.Join(p1, "archivo1_p2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(data, "p2", "archivo1_p2.txt"))
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatal("downloaded content differs from p2's")
	}
	testutil.Eventually(t, 5*time.Second, "p1 becomes a second source", func() error { return contains(search("archivo1_p2"), "  2\n") })

	// The large file every peer shares comes from all three.
	r := run(t, env, "", "get", "compartido.bin", "-o", t.TempDir())
	if r.code != 0 {
		t.Fatalf("get compartido.bin: exit %d\n%s", r.code, r.err)
	}

	// put a file of p2's on p3.
	if r := run(t, env, "", "put", filepath.Join(data, "p2", "archivo2_p2.csv"), "--to", "p3"); r.code != 0 {
		t.Fatalf("put: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
	if b, err := os.ReadFile(filepath.Join(data, "p3", "archivo2_p2.csv")); err != nil || !bytes.Equal(b, mustRead(t, filepath.Join(data, "p2", "archivo2_p2.csv"))) {
		t.Fatalf("p3 lacks the uploaded file: %v", err)
	}

	cancel() // Ctrl-C
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited %d:\n%s", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Fatalf("no clean stop message:\n%s", out.String())
	}
}

// contains returns nil if out contains want, else an error showing out.
func contains(out, want string) error {
	if !strings.Contains(out, want) {
		return fmt.Errorf("no %q in:\n%s", want, out)
	}
	return nil
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
