package e2e_test

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// recorder stands in front of a peer and records the Authorization header
// of every request before passing it on, unchanged: everything a hostile
// peer would see and keep. The peer advertises the recorder's URL, so every
// client reaches the peer through it.
type recorder struct {
	URL     string
	backend atomic.Pointer[url.URL]

	mu   sync.Mutex
	seen []seenRequest
}

// seenRequest is one request the recorder passed on.
type seenRequest struct {
	path, bearer string
	at           time.Time
}

// newRecorder starts a recorder on a loopback port (HTTP/1.1 and h2c, as a
// peer serves) until the test ends; it forwards once forwardTo is called.
func newRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{URL: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(r.backend.Load()) },
		Transport:     rpcclient.NewHTTPClient().Transport,
		FlushInterval: -1, // stream every chunk at once
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		bearer, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		r.mu.Lock()
		r.seen = append(r.seen, seenRequest{path: req.URL.Path, bearer: bearer, at: time.Now()})
		r.mu.Unlock()
		if r.backend.Load() == nil {
			http.Error(w, "not forwarding yet", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, req)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// forwardTo makes the recorder pass requests on to the peer at peerURL.
func (r *recorder) forwardTo(t *testing.T, peerURL string) {
	u, err := url.Parse(peerURL)
	if err != nil {
		t.Fatal(err)
	}
	r.backend.Store(u)
}

// requests returns what the recorder saw so far.
func (r *recorder) requests() []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// claimsOf decodes a token's claims without verifying it: what a peer can
// read in any token it is sent.
func claimsOf(t *testing.T, raw string) token.Claims {
	t.Helper()
	var c token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		t.Fatalf("a bearer token that is no JWT: %v", err)
	}
	return c
}

// bearerOptions are client options that send raw as the bearer token.
func bearerOptions(raw string) []connect.ClientOption {
	var tok rpcclient.Token
	tok.Set(raw)
	return rpcclient.Options(&tok)
}

// clientSession logs alice in at the directory for the test.
func clientSession(t *testing.T, n *testnet.Network) *session.Session {
	t.Helper()
	return loggedIn(t, aliceAt(n))
}

// waitFound waits until the directory has query from the named peers.
func waitFound(t *testing.T, s *session.Session, query string, peers ...string) {
	t.Helper()
	testutil.Eventually(t, 0, query+" is published by "+strings.Join(peers, ", "), func() error {
		res, err := s.Client().Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: query}))
		if err != nil {
			return err
		}
		var have []string
		for _, r := range res.Msg.GetResults() {
			for _, src := range r.GetSources() {
				have = append(have, src.GetPeer())
			}
		}
		for _, p := range peers {
			if !slices.Contains(have, p) {
				return errors.New("not yet from " + p + ", only " + strings.Join(have, ", "))
			}
		}
		return nil
	})
}

// statWith calls Stat of name at a peer with raw as the token.
func statWith(t *testing.T, peerURL, raw, name string) error {
	t.Helper()
	_, err := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), peerURL, bearerOptions(raw)...).
		Stat(t.Context(), connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Name{Name: name}}))
	return err
}

// TestAttackPeerNeverSeesSessionToken runs get, put and search with a
// recording peer (a front that keeps every Authorization header the peer is
// sent), once with the directory's URL and once with the peer's as the
// access point: the peer sees download, upload and read tokens, each
// addressed to it or to the directory, and never a session token, nor a
// login.
func TestAttackPeerNeverSeesSessionToken(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	rec := newRecorder(t)
	content := testutil.RandBytes(3<<20, 7)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"watched.bin": content}, AcceptUploads: true, Advertise: rec.URL})
	rec.forwardTo(t, p1.URL)
	waitFound(t, clientSession(t, n), "watched.bin", "p1")

	local := filepath.Join(t.TempDir(), "sent.txt")
	if err := os.WriteFile(local, []byte("for p1"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, via := range []struct{ name, url string }{{"directory", n.DirectoryURL}, {"access point", rec.URL}} {
		out := t.TempDir()
		mustRunCLI(t, via.url, "get", "-o", out, "watched.bin")
		if got, err := os.ReadFile(filepath.Join(out, "watched.bin")); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("get via the %s: %d bytes, %v", via.name, len(got), err)
		}
		mustRunCLI(t, via.url, "put", local, "--to", "p1", "--as", "from-"+strings.ReplaceAll(via.name, " ", "-")+".txt")
		mustRunCLI(t, via.url, "search", "watched")
	}

	scopes := map[string]int{}
	for _, r := range rec.requests() {
		if strings.HasSuffix(r.path, "/Login") {
			t.Errorf("the peer saw a login (%s): a password went to it", r.path)
		}
		if r.bearer == "" {
			continue
		}
		c := claimsOf(t, r.bearer)
		scopes[c.Scope]++
		switch {
		case c.Scope == token.ScopeSession:
			t.Errorf("the peer saw a session token at %s", r.path)
		case c.Scope == token.ScopeRead && !c.HasAudience(token.DefaultIssuer):
			t.Errorf("a read token at %s is addressed to %v", r.path, c.Audience)
		case (c.Scope == token.ScopeDownload || c.Scope == token.ScopeUpload) && !c.HasAudience("p1"):
			t.Errorf("a %s token at %s is addressed to %v, not p1", c.Scope, r.path, c.Audience)
		case c.Scope != token.ScopeRead && c.Scope != token.ScopeDownload && c.Scope != token.ScopeUpload:
			t.Errorf("the peer saw a token of scope %q at %s", c.Scope, r.path)
		}
	}
	// Proof that the recorder saw the traffic: both transfers, and the
	// reads of the access point.
	for _, s := range []string{token.ScopeDownload, token.ScopeUpload, token.ScopeRead} {
		if scopes[s] == 0 {
			t.Errorf("the peer saw no %s token (scopes seen: %v)", s, scopes)
		}
	}
}

// TestAttackTransferTokenReplay has a peer replay a download token it was
// sent during a download, while the downloader's session is still live, at
// the directory (every method) and at a second peer (every method): all
// refuse it, while the peer it was issued for accepts it.
func TestAttackTransferTokenReplay(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	rec := newRecorder(t)
	content := testutil.RandBytes(1<<20, 9)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"loot.bin": content}, Advertise: rec.URL})
	rec.forwardTo(t, p1.URL)
	p2 := n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"loot.bin": content}, AcceptUploads: true})
	s := clientSession(t, n)
	waitFound(t, s, "loot.bin", "p1")

	cand, err := downloader.Resolve(t.Context(), s.Reads(), "loot.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, err = downloader.Download(t.Context(), cand.Target, cand.Sources, downloader.Options{
		Dest: filepath.Join(t.TempDir(), "loot.bin"), Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD),
	})
	if err != nil {
		t.Fatal(err)
	}
	var stolen string
	for _, r := range rec.requests() {
		if r.bearer != "" && strings.HasPrefix(r.path, "/"+peerv1connect.PeerServiceName+"/") {
			stolen = r.bearer
		}
	}
	if stolen == "" {
		t.Fatal("the peer was sent no token")
	}
	// Live where it belongs: the refusals below are not its expiry.
	if err := statWith(t, p1.URL, stolen, "loot.bin"); err != nil {
		t.Fatalf("p1 refuses its own download token: %v", err)
	}

	dir := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL, bearerOptions(stolen)...)
	atDirectory := map[string]func() error{
		"Heartbeat": func() error {
			_, err := dir.Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{}))
			return err
		},
		"Search": func() error {
			_, err := dir.Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Query: "loot"}))
			return err
		},
		"ListPeers": func() error {
			_, err := dir.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
			return err
		},
		"ListFiles": func() error {
			_, err := dir.ListFiles(t.Context(), connect.NewRequest(&directoryv1.ListFilesRequest{}))
			return err
		},
		"IssueToken": func() error {
			_, err := dir.IssueToken(t.Context(), connect.NewRequest(&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD, Peer: "p2"}))
			return err
		},
		"Logout": func() error {
			_, err := dir.Logout(t.Context(), connect.NewRequest(&directoryv1.LogoutRequest{}))
			return err
		},
	}
	for method, call := range atDirectory {
		if err := call(); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("replayed at the directory's %s: %v, want Unauthenticated", method, err)
		}
	}

	// The downloader's session is live all along.
	if _, err := s.Client().ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{})); err != nil {
		t.Fatalf("the victim's session ended: %v", err)
	}

	other := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p2.URL, bearerOptions(stolen)...)
	if err := statWith(t, p2.URL, stolen, "loot.bin"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("replayed at p2's Stat: %v, want Unauthenticated", err)
	}
	stream, err := other.Download(t.Context(), connect.NewRequest(&peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: "loot.bin"}, Length: 10}))
	if err == nil {
		for stream.Receive() {
			t.Error("p2 sent file data for a replayed token")
		}
		err = stream.Err()
		stream.Close()
	}
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("replayed at p2's Download: %v, want Unauthenticated", err)
	}
	up := other.Upload(t.Context())
	_ = up.Send(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: &peerv1.UploadHeader{Name: "planted.txt", Size: 1, Sha256: strings.Repeat("0", 64)}}})
	if _, err := up.CloseAndReceive(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("replayed at p2's Upload: %v, want Unauthenticated", err)
	}
	if _, err := os.Stat(filepath.Join(p2.Share, "planted.txt")); err == nil {
		t.Error("a replayed token planted a file at p2")
	}
}

// TestAttackReplayAfterLogout checks that a transfer token stops working at
// the peer within one heartbeat of its session's logout, although it has
// not expired.
func TestAttackReplayAfterLogout(t *testing.T) {
	t.Parallel()
	const heartbeat = time.Second
	n := testnet.Start(t, testnet.Options{Heartbeat: heartbeat})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"kept.txt": []byte("kept")}})
	s := clientSession(t, n)
	waitFound(t, s, "kept.txt", "p1")
	raw, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD).Token(t.Context(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if err := statWith(t, p1.URL, raw, "kept.txt"); err != nil {
		t.Fatalf("the token is refused before the logout: %v", err)
	}
	if err := s.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}
	loggedOut := time.Now()
	var refusedAfter time.Duration
	for refusedAfter == 0 {
		err := statWith(t, p1.URL, raw, "kept.txt")
		switch {
		case connect.CodeOf(err) == connect.CodeUnauthenticated:
			refusedAfter = time.Since(loggedOut)
		case err != nil:
			t.Fatalf("stat: %v", err)
		case time.Since(loggedOut) > 10*heartbeat:
			t.Fatalf("the peer still accepts the token %s after the logout", time.Since(loggedOut))
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("refused %s after the logout (heartbeat %s)", refusedAfter, heartbeat)
	// One heartbeat, and slack for a loaded test machine.
	if refusedAfter > heartbeat+time.Second {
		t.Errorf("refused only %s after the logout; want within one heartbeat (%s)", refusedAfter, heartbeat)
	}
	if exp := claimsOf(t, raw).ExpiresAt.Time; !time.Now().Before(exp) {
		t.Fatalf("the token expired meanwhile (%v): the test proves nothing", exp)
	}
}

// TestAttackLoginThroughPeer sends a password and a session token to a
// peer's forwarded directory methods: Login (and every other method that
// needs the session) is refused with the directory's URL, before anything
// is forwarded; a session token is refused for reads too; a read token is
// forwarded.
func TestAttackLoginThroughPeer(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"x.txt": []byte("x")}})
	s := clientSession(t, n)
	waitFound(t, s, "x.txt", "p1")
	sessionToken := s.Token().Get()

	viaPeer := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), p1.URL, bearerOptions(sessionToken)...)
	_, err := viaPeer.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "alice", Password: testnet.Password}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), n.DirectoryURL) {
		t.Errorf("login through a peer: %v, want FailedPrecondition naming %s", err, n.DirectoryURL)
	}
	for method, call := range map[string]func() error{
		"Heartbeat": func() error {
			_, err := viaPeer.Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{}))
			return err
		},
		"Logout": func() error {
			_, err := viaPeer.Logout(t.Context(), connect.NewRequest(&directoryv1.LogoutRequest{}))
			return err
		},
		"Publish": func() error {
			_, err := viaPeer.Publish(t.Context(), connect.NewRequest(&directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Delta{Delta: &directoryv1.Delta{}}}))
			return err
		},
		"IssueToken": func() error {
			_, err := viaPeer.IssueToken(t.Context(), connect.NewRequest(&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_READ}))
			return err
		},
	} {
		if err := call(); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), n.DirectoryURL) {
			t.Errorf("%s through a peer: %v, want FailedPrecondition naming %s", method, err, n.DirectoryURL)
		}
	}
	// The session is untouched: the Logout above went nowhere.
	if _, err := s.Client().ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{})); err != nil {
		t.Fatalf("the session ended: %v", err)
	}
	// A session token is refused for reads too, a read token forwarded.
	if _, err := viaPeer.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("a session token for a read through a peer: %v, want Unauthenticated", err)
	}
	read, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_READ).Token(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	reads := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), p1.URL, bearerOptions(read)...)
	if res, err := reads.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{})); err != nil || len(res.Msg.GetPeers()) != 1 {
		t.Errorf("a read token through a peer: %v, %v", res, err)
	}
	info, err := reads.GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{}))
	if err != nil || info.Msg.GetDirectoryUrl() != n.DirectoryURL {
		t.Errorf("GetInfo through a peer names directory %q (%v), want %s", info.Msg.GetDirectoryUrl(), err, n.DirectoryURL)
	}

	// A peer daemon told that p1 is its directory stops at once, naming
	// the directory, instead of sending p1 its password.
	n.AddUser("p3")
	p3, err := peer.New(t.Context(), peer.Config{
		InsecurePlaintext: true,
		Share:             t.TempDir(), User: "p3", Password: testnet.Password,
		Listen: "127.0.0.1:0", Directory: p1.URL, ShutdownGrace: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p3.Listen(t.Context())
	if err != nil {
		p3.Close()
		t.Fatal(err)
	}
	err = errors.Join(p3.Serve(t.Context(), ln), p3.Close())
	if !errors.Is(err, session.ErrLogin) || !strings.Contains(err.Error(), n.DirectoryURL) {
		t.Errorf("a peer daemon pointed at a peer: %v, want ErrLogin naming %s", err, n.DirectoryURL)
	}
}

// TestAttackTokenOverLifetimeCap presents to a peer download tokens signed
// by its own directory's key but valid for longer than token.MaxLifetime:
// refused, however fresh; one at the cap is accepted.
func TestAttackTokenOverLifetimeCap(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"x.txt": []byte("x")}})
	waitFound(t, clientSession(t, n), "x.txt", "p1")
	claims := token.Scoped(token.ScopeDownload, "p1", "alice", "some-session", "")
	for _, tc := range []struct {
		ttl  time.Duration
		want connect.Code
	}{
		{token.MaxLifetime, 0},
		{token.MaxLifetime + time.Minute, connect.CodeUnauthenticated},
		{24 * time.Hour, connect.CodeUnauthenticated},
	} {
		err := statWith(t, p1.URL, n.SignToken(claims, tc.ttl), "x.txt")
		if connect.CodeOf(err) != tc.want && (tc.want != 0 || err != nil) {
			t.Errorf("a download token valid for %s: %v, want code %v", tc.ttl, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "at most "+token.MaxLifetime.String()) {
			t.Errorf("a download token valid for %s: %q does not name the cap", tc.ttl, err)
		}
	}
}
