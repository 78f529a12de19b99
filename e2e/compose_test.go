package e2e_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// compose runs the Compose deployment of the repository for one test, under
// its own project name and ports, and always tears it down.
type compose struct {
	t       *testing.T
	root    string
	tool    []string
	project string
	env     []string
}

// requireDocker returns the compose command line, or skips the test when no
// Docker engine is reachable; under CI=true that is a failure instead.
func requireDocker(t *testing.T) []string {
	t.Helper()
	fail := func(format string, args ...any) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and "+format, args...)
		}
		t.Skipf(format, args...)
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fail("no Docker engine: %v: %s", err, out)
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	fail("neither docker compose nor docker-compose is installed")
	return nil
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func (c *compose) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(append(append([]string{}, c.tool[1:]...), "-p", c.project), args...)
	cmd := exec.CommandContext(ctx, c.tool[0], full...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *compose) must(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.run(timeout, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", strings.Join(c.tool, " "), strings.Join(args, " "), err, out)
	}
	return out
}

// peerhub runs the peerhub binary inside a service's container, with the
// environment compose gave it.
func (c *compose) peerhub(service string, args ...string) (string, error) {
	return c.run(2*time.Minute, append([]string{"exec", "-T", service, "/peerhub"}, args...)...)
}

func (c *compose) id(service string) string {
	c.t.Helper()
	return strings.TrimSpace(c.must(time.Minute, "ps", "-q", service))
}

// file reads a file out of a service's container (the image has no shell).
func (c *compose) file(service, path string) ([]byte, error) {
	out, err := exec.Command("docker", "cp", c.id(service)+":"+path, "-").Output()
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		return nil, err
	}
	return io.ReadAll(tr)
}

func (c *compose) healthy(services ...string) bool {
	for _, s := range services {
		out, err := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", c.id(s)).Output()
		if err != nil || strings.TrimSpace(string(out)) != "healthy" {
			return false
		}
	}
	return true
}

type searchJSON struct {
	Results []struct {
		Sha256  string
		Names   []string
		Sources []struct{ Peer string }
	}
}

func (c *compose) search(from, query string) (searchJSON, error) {
	var r searchJSON
	out, err := c.peerhub(from, "search", "--json", query)
	if err != nil {
		return r, fmt.Errorf("%v: %s", err, out)
	}
	// Logs go to stderr, merged here: the JSON starts at the first brace.
	if i := strings.Index(out, "{"); i >= 0 {
		out = out[i:]
	}
	err = json.NewDecoder(strings.NewReader(out)).Decode(&r)
	return r, err
}

func sources(r searchJSON) map[string]bool {
	m := map[string]bool{}
	for _, res := range r.Results {
		for _, s := range res.Sources {
			m[s.Peer] = true
		}
	}
	return m
}

// TestCompose runs the seed's scenario on the real container deployment:
// search from p1 finds p2's file, p1 gets it into its /data and becomes a
// source, p2 puts a file on p3, p3 is killed and leaves search within its
// TTL, the directory restarts and every peer is back by itself.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	c := &compose{t: t, root: repoRoot(t), tool: requireDocker(t), project: fmt.Sprintf("peerhube2e%d", os.Getpid()), env: []string{"PEERHUB_PORT_BASE=181"}}
	build := exec.Command("make", "image")
	build.Dir = c.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run(time.Minute, "logs", "--tail", "60")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := c.run(2*time.Minute, "down", "-v", "--remove-orphans"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	c.must(5*time.Minute, "up", "-d")
	all := []string{"directory", "p1", "p2", "p3"}
	if !waitUntil(90*time.Second, func() bool { return c.healthy(all...) }) {
		t.Fatal("containers not healthy after 90s")
	}

	// From p1, search finds p2's file.
	var r searchJSON
	if !waitUntil(30*time.Second, func() bool {
		var err error
		r, err = c.search("p1", "archivo1_p2")
		return err == nil && sources(r)["p2"]
	}) {
		t.Fatalf("p1 cannot find p2's file: %+v", r)
	}
	want := r.Results[0].Sha256

	// p1 gets it into its /data (PEERHUB_OUTPUT_DIR), checked by hash.
	if out, err := c.peerhub("p1", "get", "archivo1_p2.txt"); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	b, err := c.file("p1", "/data/archivo1_p2.txt")
	if err != nil {
		t.Fatalf("read the downloaded file: %v", err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		t.Fatalf("downloaded file hashes to %x, want %s", sum, want)
	}
	// p1 now shares it too.
	if !waitUntil(10*time.Second, func() bool {
		r, err = c.search("p2", "archivo1_p2")
		return err == nil && sources(r)["p1"] && sources(r)["p2"]
	}) {
		t.Fatalf("p1 is not a source of the file it downloaded: %+v", r)
	}

	// p2 puts a file on p3.
	if out, err := c.peerhub("p2", "put", "/data/archivo2_p2.csv", "--to", "p3"); err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	orig, _ := c.file("p2", "/data/archivo2_p2.csv")
	got, err := c.file("p3", "/data/archivo2_p2.csv")
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("p3 does not have the uploaded file intact: %v", err)
	}

	// docker kill p3 (the seed's p3 died with exit 137): it and its files
	// leave search within its TTL (3 × the 2s heartbeat).
	if out, err := exec.Command("docker", "kill", c.id("p3")).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v\n%s", err, out)
	}
	killed := time.Now()
	if !waitUntil(10*time.Second, func() bool { r, err = c.search("p1", "archivo1_p3"); return err == nil && len(r.Results) == 0 }) {
		t.Fatalf("p3's file still found %s after the kill: %+v", time.Since(killed), r)
	}
	t.Logf("p3 gone from search %s after docker kill", time.Since(killed).Round(100*time.Millisecond))

	// Restart the directory: the peers come back by themselves.
	c.must(2*time.Minute, "restart", "directory")
	if !waitUntil(60*time.Second, func() bool { return c.healthy("directory") }) {
		t.Fatal("directory not healthy after restart")
	}
	back := time.Now()
	var out string
	if !waitUntil(10*time.Second, func() bool {
		out, err = c.peerhub("p1", "peers")
		return err == nil && strings.Contains(out, "p1 ") && strings.Contains(out, "p2 ")
	}) {
		t.Fatalf("peers not back after the directory restart:\n%s", out)
	}
	t.Logf("peers back %s after the directory was healthy", time.Since(back).Round(100*time.Millisecond))
	if r, err = c.search("p1", "archivo1_p2"); err != nil || !sources(r)["p2"] {
		t.Fatalf("p2's files not back: %v %+v", err, r)
	}
}

func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}
