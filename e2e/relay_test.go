package e2e_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/relaywire"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server/relay"
)

// closedPort is an address on 127.0.0.1 where nothing listens: the
// advertise address of a peer behind NAT, which no one can reach.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// reachabilityOf waits until the directory lists peer with want.
func reachabilityOf(t *testing.T, n *testnet.Network, peer string, want directoryv1.Reachability) {
	t.Helper()
	c := client(t, n)
	testutil.Eventually(t, 0, fmt.Sprintf("%s listed %s", peer, want), func() error {
		got := listPeers(t, c, (*directoryv1.PeerInfo).GetReachability)[peer]
		if got != want {
			return fmt.Errorf("listed %s", got)
		}
		return nil
	})
}

// relayTap records what the relay splices.
type relayTap struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *relayTap) tap(_ bool, p []byte) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
}

func (r *relayTap) seen() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// TestRelayGet: a peer whose advertise address no one can reach is
// listed as unreachable by the dial-back, waits at the relay (--relay
// auto) and is then listed as relayed; `peerhub get` of a file only it
// has succeeds through the relay, with the right hash; a reachable peer
// is listed as direct and is not relayed.
func TestRelayGet(t *testing.T) {
	n := testnet.Start(t, testnet.Options{})
	content := testutil.RandBytes(3<<20+123, 15)
	n.AddPeer("nat", testnet.PeerOptions{Files: map[string][]byte{"behind-nat.bin": content}, Advertise: closedPort(t)})
	n.AddPeer("open", testnet.PeerOptions{Files: map[string][]byte{"open.txt": []byte("reachable")}})
	reachabilityOf(t, n, "nat", directoryv1.Reachability_REACHABILITY_RELAYED)
	reachabilityOf(t, n, "open", directoryv1.Reachability_REACHABILITY_DIRECT)

	out := t.TempDir()
	mustRunCLI(t, n.DirectoryURL, "get", "behind-nat.bin", "-o", out)
	if got := testutil.FileSHA256(t, filepath.Join(out, "behind-nat.bin")); got != testutil.SHA256Hex(content) {
		t.Fatalf("got sha256 %s, want %s", got, testutil.SHA256Hex(content))
	}
	metrics := n.DirectoryURL + "/metrics"
	if s := testutil.Counter(t, metrics, "peerhub_relay_sessions_total"); s < 1 {
		t.Fatalf("relay sessions %v, want at least 1", s)
	}
	if b := testutil.Metric(t, metrics, `peerhub_relay_bytes_total{direction="from_peer"}`); b < float64(len(content)) {
		t.Fatalf("relay moved %v bytes from the peer, want at least %d", b, len(content))
	}
	// The reachable peer's file comes directly: no new relay session.
	before := testutil.Counter(t, metrics, "peerhub_relay_sessions_total")
	mustRunCLI(t, n.DirectoryURL, "get", "open.txt", "-o", out)
	if after := testutil.Counter(t, metrics, "peerhub_relay_sessions_total"); after != before {
		t.Fatalf("a reachable peer's download used the relay (%v sessions, was %v)", after, before)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// (0600) and returns their paths and the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, cert
}

// pieceRoot is the piece root of content (pieces of pieces.Size).
func pieceRoot(t *testing.T, content []byte) string {
	t.Helper()
	sum, err := pieces.Hash(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return pieces.Hex(sum.Root)
}

// relayDownload downloads content (shared by peer as name) through
// routes into a new folder and checks it.
func relayDownload(t *testing.T, s *session.Session, peer, address string, content []byte, routes *downloader.Relay, relayed bool) {
	t.Helper()
	defer routes.Close()
	dest := filepath.Join(t.TempDir(), "f.bin")
	target := downloader.Target{SHA256: testutil.SHA256Hex(content), Size: int64(len(content)), PieceSize: 1 << 20}
	target.PieceRoot = pieceRoot(t, content)
	_, err := downloader.Download(t.Context(), target, []downloader.Source{{Peer: peer, Address: address, Relayed: relayed}}, downloader.Options{
		Dest: dest, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD), Routes: routes,
	})
	if err != nil {
		t.Fatalf("download through the relay: %v", err)
	}
	if got := testutil.FileSHA256(t, dest); got != target.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, target.SHA256)
	}
}

// TestRelaySeesOnlyCiphertext: between a downloader and a peer that
// serves TLS, the bytes that cross the relay contain neither the file nor
// the download token the downloader presents to the peer. The same
// download from a peer without TLS shows the tap does see the bytes.
func TestRelaySeesOnlyCiphertext(t *testing.T) {
	tap := &relayTap{}
	n := testnet.Start(t, testnet.Options{Relay: relay.Config{Tap: tap.tap}})
	certFile, keyFile, cert := selfSigned(t)
	content := testutil.RandBytes(2<<20, 16)
	n.AddPeer("sealed", testnet.PeerOptions{Files: map[string][]byte{"secret.bin": content}, Relay: "always",
		TLSCert: certFile, TLSKey: keyFile, Advertise: "https://" + strings.TrimPrefix(closedPort(t), "http://")})
	reachabilityOf(t, n, "sealed", directoryv1.Reachability_REACHABILITY_RELAYED)
	s := keptAlive(t, aliceAt(n))
	waitPublished(t, s, "secret.bin")
	// The source carries the pin the directory vouches for, as a search
	// gives it: TLS through the relay accepts that key and nothing else.
	routes := &downloader.Relay{Directory: n.DirectoryURL, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY)}
	dl := &recordingTokens{TokenSource: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)}
	dest := filepath.Join(t.TempDir(), "f.bin")
	target := downloader.Target{SHA256: testutil.SHA256Hex(content), Size: int64(len(content)), PieceSize: 1 << 20, PieceRoot: pieceRoot(t, content)}
	_, err := downloader.Download(t.Context(), target, []downloader.Source{{Peer: "sealed", Address: "https://127.0.0.1:1", Relayed: true, Pin: identity.PinOf(cert)}},
		downloader.Options{Dest: dest, Tokens: dl, Routes: routes})
	routes.Close()
	if err != nil {
		t.Fatalf("download over TLS through the relay: %v", err)
	}
	seen := tap.seen()
	if len(seen) < len(content) {
		t.Fatalf("the relay spliced %d bytes for a %d-byte file", len(seen), len(content))
	}
	for off := 0; off+64 <= len(content); off += 64 << 10 {
		if bytes.Contains(seen, content[off:off+64]) {
			t.Fatalf("the relay saw the file's plaintext (bytes %d..%d)", off, off+64)
		}
	}
	for _, tok := range dl.used() {
		if bytes.Contains(seen, []byte(tok)) {
			t.Fatal("the relay saw the download token")
		}
	}
	if len(dl.used()) == 0 {
		t.Fatal("no download token was used")
	}

	// Control: without TLS the tap sees the file, so the checks above can
	// fail.
	plain := testutil.RandBytes(1<<20, 17)
	n.AddPeer("clear", testnet.PeerOptions{Files: map[string][]byte{"clear.bin": plain}, Relay: "always", Advertise: closedPort(t)})
	reachabilityOf(t, n, "clear", directoryv1.Reachability_REACHABILITY_RELAYED)
	waitPublished(t, s, "clear.bin")
	relayDownload(t, s, "clear", "http://127.0.0.1:1", plain,
		&downloader.Relay{Directory: n.DirectoryURL, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY)}, true)
	if !bytes.Contains(tap.seen(), plain[4096:4096+64]) {
		t.Fatal("control: the tap did not see a cleartext download")
	}
}

// recordingTokens records every token it hands out.
type recordingTokens struct {
	downloader.TokenSource
	mu   sync.Mutex
	toks []string
}

func (r *recordingTokens) Token(ctx context.Context, peer string) (string, error) {
	tok, err := r.TokenSource.Token(ctx, peer)
	r.mu.Lock()
	r.toks = append(r.toks, tok)
	r.mu.Unlock()
	return tok, err
}

func (r *recordingTokens) used() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.toks...)
}

// waitPublished waits until a search for name finds it.
func waitPublished(t *testing.T, s *session.Session, name string) {
	t.Helper()
	testutil.Eventually(t, 0, name+" published", func() error {
		res, err := s.Client().Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: name}))
		if err != nil {
			return err
		}
		if len(res.Msg.GetResults()) == 0 {
			return errors.New("not found")
		}
		return nil
	})
}

// relayConnect asks the relay of n for a session to peer with bearer.
func relayConnect(t *testing.T, n *testnet.Network, peer, bearer string) (net.Conn, error) {
	t.Helper()
	u, _ := url.Parse(n.DirectoryURL)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return relaywire.Upgrade(ctx, relaywire.DirectoryDialer(u, nil), u.Host, relaywire.ConnectPath, url.Values{relaywire.PeerParam: {peer}}, bearer)
}

// relayListen offers a waiting connection to n's relay with bearer.
func relayListen(t *testing.T, n *testnet.Network, bearer string) (net.Conn, error) {
	t.Helper()
	u, _ := url.Parse(n.DirectoryURL)
	return relaywire.Upgrade(t.Context(), relaywire.DirectoryDialer(u, nil), u.Host, relaywire.ListenPath, nil, bearer)
}

// TestAttackRelayTokens: the relay pairs a downloader with a peer only
// on a relay token issued for that very peer; any other token (none, a
// session token, a download token, a relay token for another peer) is
// refused before the peer hears of it.
func TestAttackRelayTokens(t *testing.T) {
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("victim", testnet.PeerOptions{Files: map[string][]byte{"v.txt": []byte("victim's")}, Relay: "always", Advertise: closedPort(t)})
	n.AddPeer("other", testnet.PeerOptions{Files: map[string][]byte{"o.txt": []byte("other's")}, Relay: "always", Advertise: closedPort(t)})
	reachabilityOf(t, n, "victim", directoryv1.Reachability_REACHABILITY_RELAYED)
	reachabilityOf(t, n, "other", directoryv1.Reachability_REACHABILITY_RELAYED)
	s := keptAlive(t, aliceAt(n))
	ctx := t.Context()
	download, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD).Token(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	relayOther, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY).Token(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	metrics := n.DirectoryURL + "/metrics"
	for _, c := range []struct{ name, bearer string }{
		{"no token", ""},
		{"session token", s.Token().Get()},
		{"download token for the peer", download},
		{"relay token for another peer", relayOther},
		{"forged", "eyJhbGciOiJFZERTQSJ9.e30.AAAA"},
	} {
		conn, err := relayConnect(t, n, "victim", c.bearer)
		if err == nil {
			conn.Close()
			t.Fatalf("%s: the relay paired it with the victim", c.name)
		}
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("%s: %v, want unauthenticated", c.name, err)
		}
	}
	if s := testutil.Counter(t, metrics, "peerhub_relay_sessions_total"); s != 0 {
		t.Fatalf("%v relay sessions after refusals only", s)
	}
	// The right token works: the check above is not a relay that refuses
	// everyone.
	good, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY).Token(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := relayConnect(t, n, "victim", good)
	if err != nil {
		t.Fatalf("a relay token for the peer: %v", err)
	}
	conn.Close()
}

// TestAttackRelayHijack: no one can wait at the relay in another peer's
// place. A waiting connection is filed under the peer name of the
// session token that opened it, which the directory binds to the account
// owning the name: a client session (even of the victim's own account)
// is refused, and mallory's peer waits under its own name only, so a
// downloader of the victim's files gets the victim's.
func TestAttackRelayHijack(t *testing.T) {
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "mallory"}})
	content := []byte("only the victim has this")
	n.AddPeer("victim", testnet.PeerOptions{Files: map[string][]byte{"v.txt": content}, Relay: "always", Advertise: closedPort(t)})
	reachabilityOf(t, n, "victim", directoryv1.Reachability_REACHABILITY_RELAYED)
	// mallory's own peer session, and mallory's client session.
	mp := loggedIn(t, session.Config{Directory: n.DirectoryURL, Username: "mallory", Password: testnet.Password, PeerName: "mallory-peer", Advertise: closedPort(t)})
	mc := loggedIn(t, session.Config{Directory: n.DirectoryURL, Username: "mallory", Password: testnet.Password})
	vc := loggedIn(t, session.Config{Directory: n.DirectoryURL, Username: "victim", Password: testnet.Password})
	for _, c := range []struct {
		name, bearer string
		code         connect.Code
	}{
		{"mallory's client session", mc.Token().Get(), connect.CodePermissionDenied},
		{"the victim account's client session", vc.Token().Get(), connect.CodePermissionDenied},
		{"no token", "", connect.CodeUnauthenticated},
	} {
		conn, err := relayListen(t, n, c.bearer)
		if err == nil {
			conn.Close()
			t.Fatalf("%s: the relay took a waiting connection", c.name)
		}
		if connect.CodeOf(err) != c.code {
			t.Fatalf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// mallory's peer session may wait, as mallory-peer: fill the victim's
	// queue from mallory's side as fast as it can...
	for range relay.DefaultMaxWaitingPerPeer {
		conn, err := relayListen(t, n, mp.Token().Get())
		if err != nil {
			t.Fatalf("mallory's peer waits under its own name: %v", err)
		}
		defer conn.Close()
	}
	// ...and a downloader of the victim still gets the victim's content.
	s := keptAlive(t, aliceAt(n))
	waitPublished(t, s, "v.txt")
	relayDownload(t, s, "victim", "http://127.0.0.1:1", content,
		&downloader.Relay{Directory: n.DirectoryURL, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY)}, true)
}

// TestRelayCaps: sessions beyond --relay-max-sessions are refused with
// ResourceExhausted; relayed bytes keep within --relay-max-rate; and a
// session that moves nothing for the idle timeout is cut.
func TestRelayCaps(t *testing.T) {
	const rate = 1 << 20 // bytes per second
	n := testnet.Start(t, testnet.Options{Relay: relay.Config{MaxSessions: 1, MaxRate: rate, IdleTimeout: 500 * time.Millisecond}})
	content := testutil.RandBytes(3<<20, 18)
	n.AddPeer("nat", testnet.PeerOptions{Files: map[string][]byte{"big.bin": content}, Relay: "always", Advertise: closedPort(t)})
	reachabilityOf(t, n, "nat", directoryv1.Reachability_REACHABILITY_RELAYED)
	s := keptAlive(t, aliceAt(n))
	waitPublished(t, s, "big.bin")
	tok, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY).Token(t.Context(), "nat")
	if err != nil {
		t.Fatal(err)
	}
	metrics := n.DirectoryURL + "/metrics"

	// One session holds the only slot; the next is refused.
	first, err := relayConnect(t, n, "nat", tok)
	if err != nil {
		t.Fatalf("first session: %v", err)
	}
	if _, err := relayConnect(t, n, "nat", tok); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("second session: %v, want resource_exhausted", err)
	}
	// The first sends nothing (the peer's HTTP/2 preface aside): the
	// relay cuts it.
	first.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, first)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a stalled session was still open after 20 s")
	}
	testutil.Eventually(t, 0, "stall counted", func() error {
		if v := testutil.Counter(t, metrics, "peerhub_relay_stalls_total"); v != 1 {
			return fmt.Errorf("stalls %v", v)
		}
		return nil
	})

	// The rate: 3 MiB at 1 MiB/s take at least 2 s (a burst of 64 KiB
	// aside), whatever the loopback could do.
	testutil.Eventually(t, 0, "session slot free", func() error {
		if v := testutil.Metric(t, metrics, "peerhub_relay_sessions_active"); v != 0 {
			return fmt.Errorf("%v active", v)
		}
		return nil
	})
	start := time.Now()
	relayDownload(t, s, "nat", "http://127.0.0.1:1", content,
		&downloader.Relay{Directory: n.DirectoryURL, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_RELAY)}, true)
	elapsed := time.Since(start)
	moved := testutil.Metric(t, metrics, `peerhub_relay_bytes_total{direction="from_peer"}`)
	if measured := moved / elapsed.Seconds(); measured > rate*1.1 {
		t.Fatalf("relayed %.0f bytes in %v: %.0f B/s, over the cap of %d", moved, elapsed, measured, rate)
	}
	t.Logf("relayed %.0f bytes in %v (cap %d B/s)", moved, elapsed, rate)
}
