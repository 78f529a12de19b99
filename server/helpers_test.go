package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server"
)

// Test accounts.
const (
	alice, alicePW = "alice", "alice-secret"
	bob, bobPW     = "bob", "bob-secret"
)

// env is one running directory and the clients that talk to it.
type env struct {
	t      testing.TB
	srv    *server.Server
	addr   string          // host:port
	url    string          // http://host:port
	clock  *testutil.Clock // shared by a test's directories
	cancel context.CancelFunc
	done   chan error
	conn   *grpc.ClientConn
}

// start runs a directory on a free loopback port with a sqlite store in the
// test's temporary folder, an injected clock and cheap password hashes, plus
// the accounts alice and bob. Options adjust the config before the start.
func start(t testing.TB, opts ...func(*server.Config)) *env {
	t.Helper()
	c := testutil.NewClock()
	cfg := server.Config{
		InsecurePlaintext: true,
		Listen:            "127.0.0.1:0",
		Store:             server.StoreSQLite,
		Data:              t.TempDir(),
	}
	cfg.Heartbeat = 10 * time.Second
	cfg.Directory.Now = c.Now
	cfg.Directory.PasswordCost = bcrypt.MinCost
	for _, o := range opts {
		o(&cfg)
	}
	e := startWith(t, cfg, c)
	e.addUser(alice, alicePW)
	e.addUser(bob, bobPW)
	return e
}

// startWith runs a directory with exactly cfg (Listen is forced to a free
// loopback port).
func startWith(t testing.TB, cfg server.Config, c *testutil.Clock) *env {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	ln, err := srv.Listen(ctx)
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	e := &env{t: t, srv: srv, addr: ln.Addr().String(), url: srv.URL(ln), clock: c, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Serve(ctx, ln) }()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	e.conn = conn
	t.Cleanup(func() { e.stop() })
	return e
}

// stop shuts the directory down and closes its store; it is idempotent.
func (e *env) stop() {
	e.t.Helper()
	if e.cancel == nil {
		return
	}
	e.conn.Close()
	e.cancel()
	e.cancel = nil
	if err := <-e.done; err != nil {
		e.t.Errorf("Serve: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
}

// testWriter sends log lines to t.Log, so they show with the failing test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (e *env) addUser(name, password string) {
	e.t.Helper()
	if err := e.srv.Directory().AddUser(context.Background(), name, password); err != nil {
		e.t.Fatalf("AddUser(%s): %v", name, err)
	}
}

// connectClient returns a Connect client that sends tok, if not empty.
func (e *env) connectClient(tok string) directoryv1connect.DirectoryServiceClient {
	var t rpcclient.Token
	t.Set(tok)
	return directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), e.url, rpcclient.Options(&t)...)
}

// proto is how a test reaches the directory: Connect or gRPC.
type protocol struct {
	name   string
	invoke func(ctx context.Context, e *env, tok, method string, req, res proto.Message) error
}

var protocols = []protocol{
	{"connect", invokeConnect},
	{"grpc", invokeGRPC},
}

// invokeGRPC calls method through google.golang.org/grpc, a client that
// shares no code with the server.
func invokeGRPC(ctx context.Context, e *env, tok, method string, req, res proto.Message) error {
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	return e.conn.Invoke(ctx, "/"+directoryv1connect.DirectoryServiceName+"/"+method, req, res)
}

// invokeConnect calls method through the generated Connect client.
func invokeConnect(ctx context.Context, e *env, tok, method string, req, res proto.Message) error {
	c := e.connectClient(tok)
	var (
		out proto.Message
		err error
	)
	switch method {
	case "GetInfo":
		r, cerr := c.GetInfo(ctx, connect.NewRequest(req.(*directoryv1.GetInfoRequest)))
		out, err = msg(r, cerr)
	case "Login":
		r, cerr := c.Login(ctx, connect.NewRequest(req.(*directoryv1.LoginRequest)))
		out, err = msg(r, cerr)
	case "Heartbeat":
		r, cerr := c.Heartbeat(ctx, connect.NewRequest(req.(*directoryv1.HeartbeatRequest)))
		out, err = msg(r, cerr)
	case "Logout":
		r, cerr := c.Logout(ctx, connect.NewRequest(req.(*directoryv1.LogoutRequest)))
		out, err = msg(r, cerr)
	case "Publish":
		r, cerr := c.Publish(ctx, connect.NewRequest(req.(*directoryv1.PublishRequest)))
		out, err = msg(r, cerr)
	case "Search":
		r, cerr := c.Search(ctx, connect.NewRequest(req.(*directoryv1.SearchRequest)))
		out, err = msg(r, cerr)
	case "ListPeers":
		r, cerr := c.ListPeers(ctx, connect.NewRequest(req.(*directoryv1.ListPeersRequest)))
		out, err = msg(r, cerr)
	case "ListFiles":
		r, cerr := c.ListFiles(ctx, connect.NewRequest(req.(*directoryv1.ListFilesRequest)))
		out, err = msg(r, cerr)
	case "IssueToken":
		r, cerr := c.IssueToken(ctx, connect.NewRequest(req.(*directoryv1.IssueTokenRequest)))
		out, err = msg(r, cerr)
	default:
		return fmt.Errorf("unknown method %s", method)
	}
	if err != nil {
		return err
	}
	proto.Reset(res)
	proto.Merge(res, out)
	return nil
}

func msg[T any, P interface {
	*T
	proto.Message
}](r *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return P(r.Msg), nil
}

// codeOf is the code of a Connect or a gRPC error (the numbers are the
// same); 0 for nil.
func codeOf(err error) connect.Code {
	if err == nil {
		return 0
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce.Code()
	}
	if s, ok := status.FromError(err); ok {
		return connect.Code(s.Code())
	}
	return connect.CodeUnknown
}

// call invokes method through p and fails the test on error.
func call[Res proto.Message](t testing.TB, e *env, p protocol, tok, method string, req proto.Message, res Res) Res {
	t.Helper()
	if err := p.invoke(t.Context(), e, tok, method, req, res); err != nil {
		t.Fatalf("%s %s: %v", p.name, method, err)
	}
	return res
}

// expectCode invokes method through p and checks the error code.
func expectCode(t testing.TB, e *env, p protocol, tok, method string, req, res proto.Message, want connect.Code) {
	t.Helper()
	err := p.invoke(t.Context(), e, tok, method, req, res)
	if got := codeOf(err); got != want {
		t.Fatalf("%s %s: code %v (%v), want %v", p.name, method, got, err, want)
	}
}

// login logs in through Connect; addr makes it a peer session.
func (e *env) login(user, password, addr, peerName string) *directoryv1.LoginResponse {
	e.t.Helper()
	res, err := e.connectClient("").Login(context.Background(), connect.NewRequest(&directoryv1.LoginRequest{
		Username: user, Password: password, AdvertiseAddress: addr, PeerName: peerName,
	}))
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	return res.Msg
}

// hexOf is the SHA-256 of s, hex.
func hexOf(s string) string { return testutil.SHA256Hex([]byte(s)) }

// entry is a valid file entry whose content is identified by content.
func entry(name, content string) *directoryv1.FileEntry {
	return &directoryv1.FileEntry{
		Name:      name,
		Size:      int64(len(content)),
		Sha256:    hexOf(content),
		PieceSize: 1 << 20,
		PieceRoot: hexOf("pieces of " + content),
		Modified:  timestamppb.New(time.Date(2029, 5, 6, 7, 8, 9, 0, time.UTC)),
	}
}

func snapshot(files ...*directoryv1.FileEntry) *directoryv1.PublishRequest {
	return &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Snapshot{Snapshot: &directoryv1.Snapshot{Files: files}}}
}

func delta(added []*directoryv1.FileEntry, removed ...string) *directoryv1.PublishRequest {
	return &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Delta{Delta: &directoryv1.Delta{Added: added, Removed: removed}}}
}

// publish publishes through Connect and fails the test on error.
func (e *env) publish(tok string, req *directoryv1.PublishRequest) int64 {
	e.t.Helper()
	res, err := e.connectClient(tok).Publish(context.Background(), connect.NewRequest(req))
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return res.Msg.GetFileCount()
}

// index is everything ListFiles shows, for before/after comparisons.
func (e *env) index(tok string) []*directoryv1.SharedFile {
	e.t.Helper()
	res, err := e.connectClient(tok).ListFiles(context.Background(), connect.NewRequest(&directoryv1.ListFilesRequest{PageSize: 1000}))
	if err != nil {
		e.t.Fatalf("list files: %v", err)
	}
	return res.Msg.GetFiles()
}

// peerNames lists the online peers' names.
func (e *env) peerNames(tok string) []string {
	e.t.Helper()
	res, err := e.connectClient(tok).ListPeers(context.Background(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
	if err != nil {
		e.t.Fatalf("list peers: %v", err)
	}
	var names []string
	for _, p := range res.Msg.GetPeers() {
		names = append(names, p.GetName())
	}
	return names
}

// searchNames returns the names of the search results of q.
func (e *env) searchNames(tok, q string) []string {
	e.t.Helper()
	res, err := e.connectClient(tok).Search(context.Background(), connect.NewRequest(&directoryv1.SearchRequest{Query: q}))
	if err != nil {
		e.t.Fatalf("search %q: %v", q, err)
	}
	var names []string
	for _, r := range res.Msg.GetResults() {
		names = append(names, r.GetNames()...)
	}
	return names
}

// httpGet is a plain HTTP GET for /metrics and friends.
func httpGet(t testing.TB, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, res.Status, b)
	}
	return string(b)
}
