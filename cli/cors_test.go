package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/internal/testutil"
)

// serveDirectory runs "peerhub directory" in-process with args and env on a
// free port until the test ends, and returns its URL.
func serveDirectory(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errOut testutil.SyncBuffer
	exit := make(chan int, 1)
	args = append([]string{"directory", "--listen", "127.0.0.1:0", "--store", "memory", "--log-level", "warn", "--insecure-plaintext"}, args...)
	go func() {
		exit <- cli.Run(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &errOut, Err: &errOut,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != cli.ExitOK {
			t.Errorf("directory exited with %d: %s", code, errOut.String())
		}
	})
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var url string
	testutil.Eventually(t, 30*time.Second, "the directory's listening line", func() error {
		m := re.FindStringSubmatch(errOut.String())
		if m == nil {
			return fmt.Errorf("no listening line yet: %q", errOut.String())
		}
		url = m[1]
		return nil
	})
	return url
}

// TestCORSOriginFlag allows browsers of the origins given with a repeated
// --cors-origin, or comma-separated in PEERHUB_CORS_ORIGIN, and refuses
// an origin that is not one.
func TestCORSOriginFlag(t *testing.T) {
	t.Parallel()
	const a, b, other = "https://a.example.com", "http://localhost:5173", "https://other.example.com"
	for name, url := range map[string]string{
		"flags": serveDirectory(t, nil, "--cors-origin", a, "--cors-origin", b),
		"env":   serveDirectory(t, map[string]string{"PEERHUB_CORS_ORIGIN": a + "," + b}),
	} {
		for _, origin := range []string{a, b} {
			if _, h := testutil.Preflight(t, url+"/v1/search", origin, http.MethodGet, "Authorization"); h.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("%s: preflight from %s got %v", name, origin, h)
			}
		}
		if _, h := testutil.Preflight(t, url+"/v1/search", other, http.MethodGet, "Authorization"); len(h) != 0 {
			t.Errorf("%s: preflight from %s got %v", name, other, h)
		}
	}

	bad := "https://a.example.com/app"
	env := map[string]string{"PEERHUB_PASSWORD": "x"}
	for _, args := range [][]string{
		{"directory", "--store", "memory", "--cors-origin", bad},
		{"peer", "--share", t.TempDir(), "--user", "u", "--cors-origin", bad},
	} {
		if r := run(t, env, "", args...); r.code != cli.ExitUsage || !strings.Contains(r.err, bad) {
			t.Errorf("%s: exit %d, %q; want a usage error naming %s", args[0], r.code, r.err, bad)
		}
	}
	env["PEERHUB_CORS_ORIGIN"] = bad
	if r := run(t, env, "", "directory", "--store", "memory"); r.code != cli.ExitUsage || !strings.Contains(r.err, bad) {
		t.Errorf("PEERHUB_CORS_ORIGIN=%s: exit %d, %q", bad, r.code, r.err)
	}
}
