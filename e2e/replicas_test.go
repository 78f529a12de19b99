package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store/postgres/pgtest"
)

// replicaHeartbeat is the replicas' heartbeat interval: sessions expire
// after three missed ones (6 s), so the test outlives a session TTL
// quickly, while a loaded CI machine stalling for a second or two does not
// expire a session that heartbeats.
const replicaHeartbeat = 2 * time.Second

// dbPassword goes into replica A's database URL (the test server trusts
// local connections, so it is not checked) to show it never reaches a log.
const dbPassword = "hunter2-db-password"

// TestReplicas runs two directory replicas on one PostgreSQL database: A, a
// real process of the peerhub binary, and B, in this process. A peer logged
// in through A is found through B, heartbeats through B keep its session
// alive past its TTL, and killing A (SIGKILL) loses nothing: B still serves
// the peer and its files, and A's token verifies on B and with the keys B
// hands to peers.
func TestReplicas(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	bin := buildPeerhub(t)

	a := startDirectoryProcess(t, bin, withURLPassword(t, dbURL, dbPassword))
	b := startDirectoryInProcess(t, dbURL)
	for _, u := range []string{"p1", "p2", "alice"} {
		if err := b.srv.Directory().AddUser(t.Context(), u, testnet.Password); err != nil {
			t.Fatalf("add user %s: %v", u, err)
		}
	}

	// The peer logs in through A and publishes there.
	peer := session.New(session.Config{Directory: a.url, Username: "p1", Password: testnet.Password, Advertise: "http://127.0.0.1:9/"})
	if err := peer.Login(t.Context()); err != nil {
		t.Fatalf("peer login through A: %v", err)
	}
	tokenFromA := peer.Token().Get()
	if err := peer.PublishSnapshot(t.Context(), []*directoryv1.FileEntry{fileEntry("music/replicated song.ogg", "song")}); err != nil {
		t.Fatalf("publish through A: %v", err)
	}
	// The peer heartbeats through B with A's token; B's renewed tokens
	// are not used, so every call below still shows A's token.
	var peerViaB directoryv1connect.DirectoryServiceClient
	{
		tok := &rpcclient.Token{}
		tok.Set(tokenFromA)
		peerViaB = directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), b.url, rpcclient.Options(tok)...)
	}
	alice := session.New(session.Config{Directory: b.url, Username: "alice", Password: testnet.Password})
	if err := alice.Login(t.Context()); err != nil {
		t.Fatalf("client login through B: %v", err)
	}
	keepAlive, stopKeepAlive := context.WithCancel(context.Background())
	go alice.KeepAlive(keepAlive)
	t.Cleanup(stopKeepAlive)
	viaB := alice.Client()

	t.Run("a peer logged in through A is found through B", func(t *testing.T) {
		if !sourcedBy(t, viaB, "replicated song", "p1") {
			t.Fatal("B does not find the file published through A")
		}
		if peerNames(t, viaB)["p1"] != 1 {
			t.Fatalf("B lists peers %v", peerNames(t, viaB))
		}
	})

	t.Run("heartbeats through B keep a session opened through A alive", func(t *testing.T) {
		// A control peer logs in through A after p1 and never heartbeats:
		// once A no longer lists it, a session TTL has passed since p1's
		// last contact with A too, and only heartbeats through B can have
		// kept p1 online.
		silent := session.New(session.Config{Directory: a.url, Username: "p2", Password: testnet.Password, Advertise: "http://127.0.0.1:10/"})
		if err := silent.Login(t.Context()); err != nil {
			t.Fatalf("control peer login through A: %v", err)
		}
		if _, ok := peerNames(t, peer.Client())["p2"]; !ok {
			t.Fatalf("A does not list the control peer after its login: %v", peerNames(t, peer.Client()))
		}
		beats := heartbeatEvery(t, peerViaB, replicaHeartbeat/4)
		ttl := directory.DefaultSessionTTLFactor * replicaHeartbeat
		// A authenticates p1's session (its token is checked against the
		// live session on every call) and lists it all along.
		testutil.Eventually(t, 3*ttl, "A's session TTL passes for the silent control peer", func() error {
			names := peerNames(t, peer.Client())
			if names["p1"] != 1 {
				t.Fatalf("A lists %v (p1 gone) while p1 heartbeats through B; heartbeats: %v", names, beats.err())
			}
			if _, ok := names["p2"]; ok {
				return fmt.Errorf("A still lists the control peer: %v", names)
			}
			return nil
		})
		if err := beats.err(); err != nil {
			t.Fatalf("heartbeat through B with A's token: %v", err)
		}
	})

	t.Run("killing A loses nothing", func(t *testing.T) {
		a.kill(t)
		if _, err := peer.Client().ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{})); err == nil {
			t.Fatal("A still answers after SIGKILL")
		}
		if !sourcedBy(t, viaB, "replicated song", "p1") {
			t.Fatal("B lost the peer's file")
		}
		if _, err := peerViaB.Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{})); err != nil {
			t.Fatalf("B refuses A's token after A died: %v", err)
		}
		// A peer checks directory tokens offline, with the keys of
		// GetInfo: B's keys verify A's token.
		info, err := viaB.GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var keys []token.PublicKey
		for _, k := range info.Msg.GetKeys() {
			keys = append(keys, token.PublicKey{ID: k.GetKeyId(), Key: k.GetPublicKey()})
		}
		c, err := token.NewVerifier(token.DefaultIssuer, keys).Verify(t.Context(), tokenFromA)
		if err != nil || c.Subject != "p1" {
			t.Fatalf("B's keys verify A's token: %+v, %v", c, err)
		}
		// The peer carries on through B, publishing too.
		if _, err := peerViaB.Publish(t.Context(), connect.NewRequest(&directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Delta{
			Delta: &directoryv1.Delta{Added: []*directoryv1.FileEntry{fileEntry("music/after the crash.ogg", "after")}},
		}})); err != nil {
			t.Fatalf("publish through B: %v", err)
		}
		if !sourcedBy(t, viaB, "after the crash", "p1") || !sourcedBy(t, viaB, "replicated song", "p1") {
			t.Fatal("B does not serve both files")
		}
	})

	t.Run("no log line shows the database password", func(t *testing.T) {
		if out := a.output(); strings.Contains(out, dbPassword) {
			t.Fatalf("A's output shows the database password:\n%s", out)
		}
	})
}

// TestReplicaRefusesBadDatabase starts the binary on a database that does
// not answer: it exits with an error that names no password.
func TestReplicaRefusesBadDatabase(t *testing.T) {
	t.Parallel()
	pgtest.URL(t) // the same skip rule as the other replica tests
	bin := buildPeerhub(t)
	// --data: the directory's TLS identity goes there, not into the
	// package's folder.
	cmd := exec.CommandContext(t.Context(), bin, "directory", "--listen", "127.0.0.1:0", "--data", t.TempDir(),
		"--store", "postgres://peerhub:"+dbPassword+"@127.0.0.1:1/peerhub?connect_timeout=5")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the directory started without its database:\n%s", out)
	}
	if strings.Contains(string(out), dbPassword) {
		t.Fatalf("the error shows the database password:\n%s", out)
	}
	if !strings.Contains(string(out), "postgres") {
		t.Fatalf("the error does not say what failed:\n%s", out)
	}
}

// sourcedBy reports whether a search for query through c lists peer as a
// source.
func sourcedBy(t *testing.T, c directoryv1connect.DirectoryServiceClient, query, peer string) bool {
	t.Helper()
	res, err := c.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
	if err != nil {
		t.Logf("search %q: %v", query, err)
		return false
	}
	for _, r := range res.Msg.GetResults() {
		for _, s := range r.GetSources() {
			if s.GetPeer() == peer {
				return true
			}
		}
	}
	return false
}

// fileEntry describes a file whose content is identified by content.
func fileEntry(name, content string) *directoryv1.FileEntry {
	return &directoryv1.FileEntry{Name: name, Size: int64(len(content)), Sha256: testutil.SHA256Hex([]byte(content)),
		PieceSize: 1 << 18, PieceRoot: testutil.SHA256Hex([]byte("pieces of " + content))}
}

// heartbeats is a loop of heartbeats in the background (heartbeatEvery).
type heartbeats struct {
	mu    sync.Mutex
	first error
}

// err is the first heartbeat's error, nil while all succeeded.
func (h *heartbeats) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first
}

// heartbeatEvery heartbeats through c every interval until the first
// error or the end of the test.
func heartbeatEvery(t *testing.T, c directoryv1connect.DirectoryServiceClient, interval time.Duration) *heartbeats {
	h := &heartbeats{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if _, err := c.Heartbeat(ctx, connect.NewRequest(&directoryv1.HeartbeatRequest{})); err != nil {
				if ctx.Err() == nil {
					h.mu.Lock()
					h.first = err
					h.mu.Unlock()
				}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// withURLPassword returns a postgres URL with a password added.
func withURLPassword(t *testing.T, url, password string) string {
	t.Helper()
	scheme, rest, ok := strings.Cut(url, "://")
	user, host, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 || strings.Contains(user, ":") {
		return url // it has a password already, or no user: leave it
	}
	return scheme + "://" + user + ":" + password + "@" + host
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// buildPeerhub builds the peerhub binary once per test process, into a
// folder removed when the process's tests are done.
func buildPeerhub(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "peerhub-e2e-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "peerhub"), "github.com/peerhub/peerhub")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "peerhub")
}

// TestMain removes the binary buildPeerhub made.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// cleanEnv is the test's environment without PEERHUB_ variables, so that
// the directory under test takes its settings from its flags only.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEERHUB_") {
			env = append(env, kv)
		}
	}
	return env
}

// directoryProcess is a directory running as a child process.
type directoryProcess struct {
	url  string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder // everything it wrote on stderr
	done chan struct{}   // closed when stderr is drained
}

func (p *directoryProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill sends SIGKILL and waits for the process to end.
func (p *directoryProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-p.done
	p.cmd.Wait()
}

// startDirectoryProcess runs "peerhub directory" on the store dbURL and
// returns once it printed its "listening on" line.
func startDirectoryProcess(t *testing.T, bin, dbURL string) *directoryProcess {
	t.Helper()
	cmd := exec.Command(bin, "directory", "--listen", "127.0.0.1:0", "--store", dbURL,
		"--heartbeat", replicaHeartbeat.String(), "--data", t.TempDir())
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &directoryProcess{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.kill(t)
		}
	})
	urls := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if _, u, ok := strings.Cut(line, "listening on "); ok {
				select {
				case urls <- strings.TrimSpace(u):
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case p.url = <-urls:
	case <-p.done:
		cmd.Wait()
		t.Fatalf("the directory exited before listening:\n%s", p.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("no \"listening on\" line after 60s:\n%s", p.output())
	}
	return p
}

// directoryInProcess is a directory served by this test process.
type directoryInProcess struct {
	url string
	srv *server.Server
}

// startDirectoryInProcess serves a directory on the store dbURL until the
// test ends.
func startDirectoryInProcess(t *testing.T, dbURL string) *directoryInProcess {
	t.Helper()
	srv, err := server.New(t.Context(), server.Config{
		InsecurePlaintext: true,
		Listen:            "127.0.0.1:0",
		Store:             dbURL,
		Heartbeat:         replicaHeartbeat,
		ShutdownGrace:     time.Second,
		Directory:         directory.Config{PasswordCost: bcrypt.MinCost},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start replica B: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
		srv.Close()
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &directoryInProcess{url: srv.URL(ln), srv: srv}
}
