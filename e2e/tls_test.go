package e2e_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// hostPort is the host:port of an http(s):// URL, its fragment dropped.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	base, _, _ := strings.Cut(raw, "#")
	_, hp, ok := strings.Cut(base, "://")
	if !ok {
		t.Fatalf("URL %q", raw)
	}
	return hp
}

// TestTLSEverywhere: with the roles' default (TLS), every connection is
// TLS with ALPN h2: a cleartext HTTP/2 client gets no answer from the
// directory or a peer; peers' pins are proved at login and carried by
// listings and search results; get, put and status go through TLS checked
// against those pins.
func TestTLSEverywhere(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{TLS: true})
	content := testutil.RandBytes(300_000, 7)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"tls.bin": content}})
	p2 := n.AddPeer("p2", testnet.PeerOptions{AcceptUploads: true})
	if !strings.HasPrefix(n.DirectoryURL, "https://") || !strings.Contains(n.DirectoryURL, "#sha256//") {
		t.Fatalf("directory URL %s: want https:// with its pin", n.DirectoryURL)
	}
	c := client(t, n)
	testutil.Eventually(t, 0, "p1 and p2 listed", func() error { return listed(t, c, map[string]int64{"p1": 1, "p2": 0}) })

	// Listings and search results carry the pins the peers proved.
	pins := listPeers(t, c, func(p *directoryv1.PeerInfo) string { return p.GetPin() })
	for name, p := range map[string]*testnet.Peer{"p1": p1, "p2": p2} {
		if want := string(p.Daemon.Pin()); want == "" || pins[name] != want {
			t.Fatalf("pin of %s listed %q, want %q", name, pins[name], want)
		}
	}
	res, err := c.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: "tls.bin"}))
	if err != nil || len(res.Msg.GetResults()) != 1 {
		t.Fatalf("search: %v %v", res, err)
	}
	if src := res.Msg.GetResults()[0].GetSources()[0]; src.GetPin() != string(p1.Daemon.Pin()) || !strings.HasPrefix(src.GetAddress(), "https://") {
		t.Fatalf("source %v: want p1's https address and pin", src)
	}

	// Each server negotiates h2 over TLS with its pinned key...
	for name, hp := range map[string]string{"directory": hostPort(t, n.DirectoryURL), "p1": hostPort(t, p1.URL), "p2": hostPort(t, p2.URL)} {
		pin := p1.Daemon.Pin()
		switch name {
		case "directory":
			_, pin, _ = rpcclient.SplitPin(n.DirectoryURL)
		case "p2":
			pin = p2.Daemon.Pin()
		}
		conn, err := tls.Dial("tcp", hp, identity.ClientConfig(pin))
		if err != nil {
			t.Fatalf("%s: TLS with its pin: %v", name, err)
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != "h2" {
			t.Errorf("%s: ALPN %q, want h2", name, got)
		}
		conn.Close()
		// ...and a cleartext client gets nothing.
		plain := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), "http://"+hp)
		if _, err := plain.GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{})); err == nil {
			t.Errorf("%s answered a cleartext HTTP/2 call", name)
		}
	}

	// get, put and status: the CLI over TLS, trusting the pins.
	out := t.TempDir()
	mustRunCLI(t, n.DirectoryURL, "get", "tls.bin", "-o", out)
	if got := testutil.FileSHA256(t, filepath.Join(out, "tls.bin")); got != testutil.SHA256Hex(content) {
		t.Fatalf("downloaded %s, want %s", got, testutil.SHA256Hex(content))
	}
	up := testutil.WriteFile(t, t.TempDir(), "up.txt", []byte("uploaded over TLS"))
	n.AddUser("p2")
	mustRunCLI(t, n.DirectoryURL, "put", up, "--to", "p2")
	testutil.Eventually(t, 0, "upload stored at p2", func() error {
		_, err := os.Stat(filepath.Join(p2.Share, "up.txt"))
		return err
	})
	if code, _, errOut := runCLI(t, n.DirectoryURL, "p2", "status", "p2"); code != 0 {
		t.Fatalf("status p2 over TLS: exit %d: %s", code, errOut)
	}
}

// TestManInTheMiddleRefused: a server with another key on the address a
// peer advertises (a man in the middle) is refused by the downloader and
// by put before any request, so no token reaches it.
func TestManInTheMiddleRefused(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{TLS: true})
	impostorKey, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	ln, err := tls.Listen("tcp", "127.0.0.1:0", identity.ServerConfig(impostorKey))
	if err != nil {
		t.Fatal(err)
	}
	impostor := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	go impostor.Serve(ln)
	t.Cleanup(func() { impostor.Close() })

	content := testutil.RandBytes(50_000, 9)
	// p1 logs in with the impostor's address: downloaders go there, and
	// must find a key other than p1's pin.
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"mitm.bin": content}, AcceptUploads: true, Advertise: "https://" + ln.Addr().String()})
	c := client(t, n)
	testutil.Eventually(t, 0, "p1 listed", func() error { return listed(t, c, map[string]int64{"p1": 1}) })

	code, _, errOut := runCLI(t, n.DirectoryURL, "alice", "get", "mitm.bin", "-o", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "not the pinned one") {
		t.Fatalf("get through a man in the middle: exit %d, stderr %q; want a refusal naming the pin", code, errOut)
	}
	s := loggedIn(t, aliceAt(n))
	tok, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD).Token(t.Context(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	var upTok rpcclient.Token
	upTok.Set(tok)
	up := testutil.WriteFile(t, t.TempDir(), "up.txt", []byte("secret"))
	_, err = downloader.Upload(t.Context(), "https://"+ln.Addr().String(), up, downloader.UploadOptions{Token: &upTok, Pin: p1.Daemon.Pin()})
	if !errors.Is(err, identity.ErrPinMismatch) {
		t.Fatalf("put through a man in the middle: %v, want ErrPinMismatch", err)
	}
	if code, _, _ := runCLI(t, n.DirectoryURL, "alice", "put", up, "--to", "p1"); code == 0 {
		t.Fatal("peerhub put through a man in the middle succeeded")
	}
	if got := requests.Load(); got != 0 {
		t.Fatalf("the impostor received %d requests (tokens leaked)", got)
	}
}

// TestDirectoryTrustOnFirstUse: a directory URL without a pin is trusted on
// first use and remembered in known_hosts (0600); after the directory's
// key changes, the client refuses it with a message naming the file.
func TestDirectoryTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{TLS: true})
	base, pin, err := rpcclient.SplitPin(n.DirectoryURL)
	if err != nil || pin == "" {
		t.Fatalf("SplitPin(%s) = %v %v", n.DirectoryURL, pin, err)
	}
	known := filepath.Join(t.TempDir(), "config", rpcclient.KnownHostsFile)
	cfg := session.Config{Directory: base, Username: "alice", Password: testnet.Password, KnownHosts: rpcclient.NewKnownHosts(known)}
	loggedIn(t, cfg)
	data, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	if want := hostPort(t, base) + " " + string(pin) + "\n"; string(data) != want {
		t.Fatalf("known_hosts %q, want %q", data, want)
	}
	if fi, err := os.Stat(known); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts mode: %v %v", fi, err)
	}
	loggedIn(t, cfg) // the remembered key again

	// The directory restarts with a new key on the same address.
	n.StopDirectory()
	for _, f := range []string{identity.KeyFile, identity.CertFile} {
		if err := os.Remove(filepath.Join(n.DataDir(), f)); err != nil {
			t.Fatal(err)
		}
	}
	n.StartDirectory()
	err = session.New(cfg).Login(t.Context())
	if !errors.Is(err, rpcclient.ErrKeyChanged) {
		t.Fatalf("login after the key changed: %v, want ErrKeyChanged", err)
	}
	if msg := cli.Message(err); !strings.Contains(msg, known) || !strings.Contains(msg, "remove the line") {
		t.Fatalf("message %q does not name the file to edit", msg)
	}
}

// TestCurlPinnedPubKey: real curl reaches the directory's REST route with
// the pin the directory prints (--pinnedpubkey), refuses another pin, and
// accepts the generated certificate as its CA file (--cacert, names
// checked).
func TestCurlPinnedPubKey(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		testutil.Missing(t, "curl is not installed")
	}
	n := testnet.Start(t, testnet.Options{TLS: true})
	base, pin, _ := rpcclient.SplitPin(n.DirectoryURL)
	printed := mustRunCLI(t, n.DirectoryURL, "directory", "pin", "--data", n.DataDir())
	if strings.TrimSpace(printed) != string(pin) {
		t.Fatalf("peerhub directory pin printed %q, the directory serves %s", printed, pin)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), curl, append([]string{"-sS", "--max-time", "10"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-k", "--pinnedpubkey", string(pin), base+"/v1/info")
	if err != nil || !strings.Contains(out, "tokenIssuer") {
		t.Fatalf("curl --pinnedpubkey: %v: %s", err, out)
	}
	other, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("-k", "--pinnedpubkey", string(identity.PinOf(other.Leaf)), base+"/v1/info"); err == nil {
		t.Fatalf("curl accepted another pin: %s", out)
	}
	out, err = run("--cacert", filepath.Join(n.DataDir(), identity.CertFile), base+"/v1/info")
	if err != nil || !strings.Contains(out, "tokenIssuer") {
		t.Fatalf("curl --cacert: %v: %s", err, out)
	}
}
