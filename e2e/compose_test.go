package e2e_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// composeOverride is what the test changes in compose.yaml: its own image
// and quicker health checks (relative to the repository root).
const composeOverride = "e2e/testdata/compose.test.yaml"

// composePassword is the password compose.yaml gives its demo accounts.
const composePassword = "peerhub-demo"

// imageRepository names the test's images; each tag is a content hash.
const imageRepository = "peerhub-e2e"

// imageLabel marks the test's images, so that old ones can be pruned.
const imageLabel = "org.peerhub.e2e"

// commandTimeout bounds one docker or compose command (5 minutes: a hung
// command fails the test long before go test's own timeout, and `up` takes
// seconds even on a loaded 2-core machine).
const commandTimeout = 5 * time.Minute

// services are compose.yaml's services.
var services = []string{"directory", "p1", "p2", "p3"}

// compose runs the Compose deployment of the repository for one test, under
// its own project name, image and free host ports, and tears it down.
type compose struct {
	t       *testing.T
	root    string
	tool    []string          // docker compose, or docker-compose
	project string            // unique per run
	env     []string          // added to the environment of compose
	ids     map[string]string // container ID by service, once up
}

// composeTool returns the compose command line; without a Docker engine or
// a compose tool the test is skipped, or fails under CI=true.
func composeTool(t *testing.T) []string {
	t.Helper()
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		testutil.Missing(t, "no Docker engine: %v: %s", err, out)
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	testutil.Missing(t, "neither docker compose nor docker-compose is installed")
	return nil
}

// command runs name with args in dir and returns its standard output; the
// error carries standard error.
func command(dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out), nil
}

// testImage builds the peerhub image from this source tree, the way the
// Dockerfile does (a static binary in a FROM scratch image), and returns
// its tag. The binary goes to bin/e2e/peerhub, where go build leaves an
// up-to-date binary alone; the image is tagged by the hash of everything
// that goes into it, so an unchanged tree builds no image.
func testImage(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join("bin", "e2e", "peerhub")
	// The Makefile's build flags, without the version stamp that changes
	// with every commit.
	if _, err := command(root, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, "."); err != nil {
		t.Fatal(err)
	}
	// What the Dockerfile copies besides the binary (.dockerignore lets in
	// nothing else).
	dirs := []string{filepath.Join("deploy", "rootfs"), filepath.Join("deploy", "data")}
	h := sha256.New()
	for _, in := range append([]string{"Dockerfile", bin}, dirs...) {
		if err := hashTree(h, root, in); err != nil {
			t.Fatal(err)
		}
	}
	tag := imageRepository + ":" + hex.EncodeToString(h.Sum(nil))[:16]
	// Images of older trees go after a day, unless a container uses them.
	if _, err := command(root, nil, "docker", "image", "prune", "--all", "--force", "--filter", "label="+imageLabel, "--filter", "until=24h"); err != nil {
		t.Log(err)
	}
	if _, err := command(root, nil, "docker", "image", "inspect", tag); err == nil {
		t.Logf("image %s is up to date", tag)
		return tag
	}
	buildContext := t.TempDir()
	for _, dir := range dirs {
		if err := os.CopyFS(filepath.Join(buildContext, dir), os.DirFS(filepath.Join(root, dir))); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyFile(filepath.Join(buildContext, "bin", "peerhub"), filepath.Join(root, bin)); err != nil {
		t.Fatal(err)
	}
	if _, err := command(root, nil, "docker", "build", "--quiet", "--label", imageLabel+"=true", "--tag", tag, "--file", "Dockerfile", buildContext); err != nil {
		t.Fatal(err)
	}
	return tag
}

// hashTree writes the names, modes and contents of the files under
// root/rel (or of the file root/rel) to h, in lexical order.
func hashTree(h io.Writer, root, rel string) error {
	return filepath.WalkDir(filepath.Join(root, rel), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(root, path)
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", filepath.ToSlash(name), info.Mode(), info.Size())
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(h, f)
		return err
	})
}

func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// compose runs the compose tool on compose.yaml and the test's override.
func (c *compose) compose(args ...string) (string, error) {
	full := append(slices.Clone(c.tool[1:]), "-f", "compose.yaml", "-f", composeOverride, "-p", c.project)
	return command(c.root, c.env, c.tool[0], append(full, args...)...)
}

func (c *compose) must(args ...string) string {
	c.t.Helper()
	out, err := c.compose(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// docker runs the docker command line: much quicker than docker-compose
// v1, a Python program that takes about a second to start.
func (c *compose) docker(args ...string) (string, error) {
	return command(c.root, nil, "docker", args...)
}

// findContainers records the container ID of every service.
func (c *compose) findContainers() {
	c.t.Helper()
	out, err := c.docker("ps", "--all", "--filter", "label=com.docker.compose.project="+c.project,
		"--format", `{{.Label "com.docker.compose.service"}} {{.ID}}`)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ids = map[string]string{}
	for line := range strings.Lines(out) {
		if service, id, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			c.ids[service] = id
		}
	}
	for _, s := range services {
		if c.ids[s] == "" {
			c.t.Fatalf("no container for %s in:\n%s", s, out)
		}
	}
}

// peerhub runs the peerhub binary inside a service's container, with the
// environment compose gave it, and returns its standard output.
func (c *compose) peerhub(service string, args ...string) (string, error) {
	return c.docker(append([]string{"exec", c.ids[service], "/peerhub"}, args...)...)
}

// file reads a file out of a service's container (the image has no shell).
func (c *compose) file(service, path string) ([]byte, error) {
	out, err := exec.Command("docker", "cp", c.ids[service]+":"+path, "-").Output()
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		return nil, err
	}
	return io.ReadAll(tr)
}

// healthy returns nil once Docker's health checks pass in every service.
func (c *compose) healthy(names ...string) error {
	args := []string{"inspect", "--format", "{{.State.Health.Status}}"}
	for _, s := range names {
		args = append(args, c.ids[s])
	}
	out, err := c.docker(args...)
	if err != nil {
		return err
	}
	if status := strings.Fields(out); len(status) != len(names) || slices.ContainsFunc(status, func(s string) bool { return s != "healthy" }) {
		return fmt.Errorf("health of %v: %v", names, status)
	}
	return nil
}

// pinOfFile is the pin of the PEM certificate at path in a service's
// container.
func (c *compose) pinOfFile(service, path string) identity.Pin {
	c.t.Helper()
	b, err := c.file(service, path)
	if err != nil {
		c.t.Fatalf("%s:%s: %v", service, path, err)
	}
	local := filepath.Join(c.t.TempDir(), "cert.pem")
	if err := os.WriteFile(local, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
	pin, err := identity.PinOfFile(local)
	if err != nil {
		c.t.Fatalf("%s:%s: %v", service, path, err)
	}
	return pin
}

// checkPeersTLS checks that the directory lists each of peers at an
// https:// address with the pin of the certificate the peer generated in
// its volume.
func (c *compose) checkPeersTLS(s *session.Session, peers ...string) {
	c.t.Helper()
	res, err := s.Client().ListPeers(c.t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
	if err != nil {
		c.t.Fatal(err)
	}
	listed := map[string]*directoryv1.PeerInfo{}
	for _, p := range res.Msg.GetPeers() {
		listed[p.GetName()] = p
	}
	for _, name := range peers {
		p := listed[name]
		if p == nil {
			c.t.Fatalf("%s not listed", name)
		}
		if !strings.HasPrefix(p.GetAddress(), "https://") {
			c.t.Errorf("%s listed at %s, want https://", name, p.GetAddress())
		}
		if want := c.pinOfFile(name, "/data/.peerhub/tls/"+identity.CertFile); p.GetPin() != string(want) {
			c.t.Errorf("%s listed with pin %q, its certificate's is %q", name, p.GetPin(), want)
		}
	}
}

type searchJSON struct {
	Results []struct {
		Sha256  string
		Names   []string
		Sources []struct{ Peer string }
	}
}

// search runs `peerhub search --json` in a service's container.
func (c *compose) search(from, query string) (searchJSON, error) {
	var r searchJSON
	out, err := c.peerhub(from, "search", "--json", query)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal([]byte(out), &r)
}

func (r searchJSON) sources() map[string]bool {
	m := map[string]bool{}
	for _, res := range r.Results {
		for _, s := range res.Sources {
			m[s.Peer] = true
		}
	}
	return m
}

// hostSearch asks the directory through the host port compose published.
func hostSearch(ctx context.Context, s *session.Session, query string) (map[string]bool, error) {
	res, err := s.Client().Search(ctx, connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, r := range res.Msg.GetResults() {
		for _, s := range r.GetSources() {
			m[s.GetPeer()] = true
		}
	}
	return m, nil
}

// TestCompose runs the seed's scenario on the real container deployment,
// TLS on everywhere as compose.yaml has it:
// search from p1 finds p2's file, p1 gets it into its /data and becomes a
// source, p2 puts a file on p3, p3 is killed and leaves search within its
// TTL, the directory restarts and every peer is back by itself. The
// directory's published port answers from the host.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers")
	}
	// In parallel with the in-process tests: most of this one's time is
	// spent waiting for containers, not on this machine's CPU.
	t.Parallel()
	start := time.Now()
	lap := func(what string) {
		t.Logf("%s: %v", what, time.Since(start).Round(100*time.Millisecond))
		start = time.Now()
	}
	root := testutil.RepoRoot(t)
	tool := composeTool(t)
	image := testImage(t, root)
	lap("image")

	c := &compose{t: t, root: root, tool: tool,
		project: "peerhube2e" + strconv.Itoa(os.Getpid()) + "x" + strconv.FormatInt(time.Now().UnixNano(), 36),
		env:     []string{"PEERHUB_E2E_IMAGE=" + image}}
	for _, s := range services {
		c.env = append(c.env, "PEERHUB_HOST_PORT_"+strings.ToUpper(s)+"=")
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.compose("logs", "--tail", "60")
			t.Logf("compose logs:\n%s", out)
		}
		if _, err := c.compose("down", "--volumes", "--remove-orphans"); err != nil {
			t.Logf("compose down: %v", err)
		}
		lap("down")
	})
	c.must("up", "-d")
	c.findContainers()
	lap("up")
	testutil.Eventually(t, 90*time.Second, "all four containers healthy", func() error { return c.healthy(services...) })
	lap("healthy")

	// From the host, through the port Docker chose: p2's file is found.
	addr, err := c.docker("port", c.ids["directory"], "8000/tcp")
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _ = strings.Cut(strings.TrimSpace(addr), "\n")
	// The directory serves TLS only: cleartext gets no session.
	plain := session.New(session.Config{Directory: "http://" + addr, Username: "demo", Password: composePassword})
	if err := plain.Login(t.Context()); err == nil {
		t.Fatalf("a cleartext login through %s succeeded: the directory should serve TLS only", addr)
	}
	// The host trusts the directory by its pin, as README's recipe does.
	pin, err := c.peerhub("directory", "directory", "pin", "--data", "/state")
	if err != nil {
		t.Fatal(err)
	}
	pin = strings.TrimSpace(pin)
	if want := c.pinOfFile("directory", "/state/"+identity.CertFile); pin != string(want) {
		t.Fatalf("peerhub directory pin printed %q, the certificate file's pin is %q", pin, want)
	}
	host := session.New(session.Config{Directory: "https://" + addr + "#" + pin, Username: "demo", Password: composePassword})
	if err := host.Login(t.Context()); err != nil {
		t.Fatalf("log in through %s with pin %s: %v", addr, pin, err)
	}
	keepAlive, stop := context.WithCancel(t.Context())
	defer stop()
	go host.KeepAlive(keepAlive)
	testutil.Eventually(t, 30*time.Second, "p2's file found from the host", func() error {
		m, err := hostSearch(t.Context(), host, "archivo1_p2")
		if err == nil && !m["p2"] {
			err = fmt.Errorf("sources %v", m)
		}
		return err
	})

	// From p1, search finds p2's file.
	var r searchJSON
	testutil.Eventually(t, 30*time.Second, "p1 finds p2's file", func() error {
		r, err = c.search("p1", "archivo1_p2")
		if err == nil && !r.sources()["p2"] {
			err = fmt.Errorf("no source p2: %+v", r)
		}
		return err
	})
	want := r.Results[0].Sha256

	// p1 gets it into its /data (PEERHUB_OUTPUT_DIR), checked by hash.
	if _, err := c.peerhub("p1", "get", "archivo1_p2.txt"); err != nil {
		t.Fatalf("get: %v", err)
	}
	b, err := c.file("p1", "/data/archivo1_p2.txt")
	if err != nil {
		t.Fatalf("read the downloaded file: %v", err)
	}
	if got := testutil.SHA256Hex(b); got != want {
		t.Fatalf("downloaded file hashes to %s, want %s", got, want)
	}
	// Every peer serves TLS, and the directory vouches for the key each
	// one generated in its volume: the get above went to https://p2:8002
	// and accepted that key only.
	c.checkPeersTLS(host, "p1", "p2", "p3")
	// p1 now shares it too.
	testutil.Eventually(t, 10*time.Second, "p1 a source of the file it downloaded", func() error {
		r, err = c.search("p2", "archivo1_p2")
		if err == nil && !(r.sources()["p1"] && r.sources()["p2"]) {
			err = fmt.Errorf("sources %v", r.sources())
		}
		return err
	})

	// p2 puts a file on p3.
	if _, err := c.peerhub("p2", "put", "/data/archivo2_p2.csv", "--to", "p3"); err != nil {
		t.Fatalf("put: %v", err)
	}
	orig, err := c.file("p2", "/data/archivo2_p2.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.file("p3", "/data/archivo2_p2.csv"); err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("p3 does not have the uploaded file intact: %v", err)
	}
	lap("search, get and put")

	// p4 is behind NAT (compose.yaml): listed as relayed, and a file only
	// it has reaches p1 through the directory's relay.
	testutil.Eventually(t, 60*time.Second, "p4 healthy", func() error { return c.healthy("p4") })
	testutil.Eventually(t, 30*time.Second, "p4 listed as relayed", func() error {
		out, err := c.peerhub("p1", "peers", "--json")
		if err == nil && (!strings.Contains(out, `"p4"`) || !strings.Contains(out, "REACHABILITY_RELAYED")) {
			err = fmt.Errorf("peers: %s", out)
		}
		return err
	})
	c.checkPeersTLS(host, "p4")
	solo := testutil.RandBytes(3<<20, 4)
	soloPath := filepath.Join(t.TempDir(), "solo_p4.bin")
	if err := os.WriteFile(soloPath, solo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.docker("cp", soloPath, c.ids["p4"]+":/data/solo_p4.bin"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "p1 finds p4's file", func() error {
		r, err = c.search("p1", "solo_p4")
		if err == nil && !r.sources()["p4"] {
			err = fmt.Errorf("no source p4: %+v", r)
		}
		return err
	})
	if _, err := c.peerhub("p1", "get", "solo_p4.bin"); err != nil {
		t.Fatalf("get through the relay: %v", err)
	}
	if b, err := c.file("p1", "/data/solo_p4.bin"); err != nil || testutil.SHA256Hex(b) != testutil.SHA256Hex(solo) {
		t.Fatalf("p4's file through the relay: %v (wrong content or missing)", err)
	}
	lap("get from p4 through the relay")

	// Killing p4 in the middle of a download through the relay is like
	// losing any source: the get fails within its stall timeout, keeps the
	// partial file and says how to resume. (p4 sends 4 MiB/s at most:
	// 24 MiB take about 6 s.)
	big := testutil.RandBytes(24<<20, 5)
	bigPath := filepath.Join(t.TempDir(), "big_p4.bin")
	if err := os.WriteFile(bigPath, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.docker("cp", bigPath, c.ids["p4"]+":/data/big_p4.bin"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "p1 finds p4's big file", func() error {
		r, err = c.search("p1", "big_p4")
		if err == nil && !r.sources()["p4"] {
			err = fmt.Errorf("no source p4: %+v", r)
		}
		return err
	})
	var getOut testutil.SyncBuffer
	get := exec.CommandContext(t.Context(), "docker", "exec", c.ids["p1"], "/peerhub", "get", "big_p4.bin")
	get.Stdout, get.Stderr = &getOut, &getOut
	if err := get.Start(); err != nil {
		t.Fatal(err)
	}
	getDone := make(chan error, 1)
	go func() { getDone <- get.Wait() }()
	testutil.Eventually(t, 30*time.Second, "a piece of big_p4.bin on p1's disk", func() error {
		b, err := c.file("p1", "/data/big_p4.bin"+sharepath.StateSuffix)
		if err == nil && !testutil.DownloadStateSaved(b) {
			err = errors.New("no progress saved yet")
		}
		return err
	})
	if _, err := c.docker("kill", c.ids["p4"]); err != nil {
		t.Fatal(err)
	}
	killedP4 := time.Now()
	select {
	case err := <-getDone:
		if err == nil {
			t.Fatalf("get of big_p4.bin succeeded although its only source was killed:\n%s", getOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("get still running 60 s after its only source was killed:\n%s", getOut.String())
	}
	if out := getOut.String(); !strings.Contains(out, "run the same command again to resume") {
		t.Fatalf("get after p4 was killed gives no resume hint:\n%s", out)
	}
	if _, err := c.file("p1", "/data/big_p4.bin"+sharepath.PartialSuffix); err != nil {
		t.Fatalf("the partial file was not kept: %v", err)
	}
	t.Logf("get failed %s after p4 was killed", time.Since(killedP4).Round(100*time.Millisecond))
	lap("p4 killed mid-download")

	// docker kill p3 (the seed's p3 died with exit 137): it and its files
	// leave search within its TTL (3 × the 2s heartbeat).
	if _, err := c.docker("kill", c.ids["p3"]); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testutil.Eventually(t, 15*time.Second, "p3's file gone from search after the kill", func() error {
		m, err := hostSearch(t.Context(), host, "archivo1_p3")
		if err == nil && len(m) > 0 {
			err = fmt.Errorf("sources %v", m)
		}
		return err
	})
	t.Logf("p3 gone from search %s after docker kill", time.Since(killed).Round(100*time.Millisecond))
	lap("kill")

	// Restart the directory: the peers come back by themselves.
	if _, err := c.docker("restart", c.ids["directory"]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "directory healthy after restart", func() error { return c.healthy("directory") })
	back := time.Now()
	testutil.Eventually(t, 15*time.Second, "p1 and p2 listed after the directory restart", func() error {
		out, err := c.peerhub("p1", "peers")
		if err == nil && !(strings.Contains(out, "p1 ") && strings.Contains(out, "p2 ")) {
			err = errors.New(out)
		}
		return err
	})
	t.Logf("peers back %s after the directory was healthy", time.Since(back).Round(100*time.Millisecond))
	if r, err = c.search("p1", "archivo1_p2"); err != nil || !r.sources()["p2"] {
		t.Fatalf("p2's files not back: %v %+v", err, r)
	}
	lap("directory restart")
}
