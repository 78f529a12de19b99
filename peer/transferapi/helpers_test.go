package transferapi_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

// tokens are a directory's signing key and tokens it issued, good and bad.
type tokens struct {
	issuer                       *testutil.Issuer
	valid, expired, forged, junk string
}

func newTokens(t testing.TB) *tokens {
	t.Helper()
	iss := testutil.NewIssuer(t)
	return &tokens{
		issuer:  iss,
		valid:   iss.Token(t, time.Now()),
		expired: iss.Token(t, time.Now().Add(-2*testutil.IssuerTTL)),
		forged:  testutil.NewIssuer(t).Token(t, time.Now()), // same key id, other key
		junk:    "not.a.token",
	}
}

// env is a peer serving a shared folder over real HTTP on loopback.
type env struct {
	dir    string
	ix     *index.Index
	svc    *transfer.Service
	addr   string // host:port
	tokens *tokens
	http   *http.Client
	grpc   *grpc.ClientConn
}

// newEnv indexes a new shared folder holding files and serves it with
// transfer options o, behind token authentication; o.Logger also receives
// the server's log. server, if given, adjusts the server's options.
func newEnv(t testing.TB, o transfer.Options, files map[string][]byte, server ...func(*rpcserver.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		testutil.WriteFile(t, dir, name, data)
	}
	return serveDir(t, dir, o, server...)
}

func serveDir(t testing.TB, dir string, o transfer.Options, server ...func(*rpcserver.Options)) *env {
	t.Helper()
	ix, err := index.Open(context.Background(), index.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	e := &env{dir: dir, ix: ix, tokens: newTokens(t)}
	e.rescan(t)
	o.Catalog, o.Root = ix, ix.Root()
	e.svc, err = transfer.New(o)
	if err != nil {
		t.Fatal(err)
	}

	so := rpcserver.Options{
		Logger:        o.Logger,
		Services:      []string{peerv1connect.PeerServiceName},
		ShutdownGrace: time.Second,
	}
	for _, f := range server {
		f(&so)
	}
	srv := rpcserver.New(so)
	err = srv.Mount(rpcserver.Service{
		Name: peerv1connect.PeerServiceName,
		Handler: func(opts ...connect.HandlerOption) (string, http.Handler) {
			return transferapi.NewHandler(e.svc, o.Logger, opts...)
		},
		Auth: rpcserver.NewAuthInterceptor(func(ctx context.Context, _, raw string) (token.Claims, error) {
			return e.tokens.issuer.Verifier.Verify(ctx, raw)
		}),
		Limits: transferapi.ReadLimits,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	e.http = rpcclient.NewHTTPClient()
	e.grpc, err = grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.grpc.Close()
		e.http.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

func (e *env) rescan(t testing.TB) {
	t.Helper()
	if _, err := e.ix.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// client returns a Connect client sending tok (none if empty).
func (e *env) client(tok string, opts ...connect.ClientOption) peerv1connect.PeerServiceClient {
	var t rpcclient.Token
	t.Set(tok)
	return peerv1connect.NewPeerServiceClient(e.http, "http://"+e.addr, rpcclient.Options(&t, append([]connect.ClientOption{rpcclient.NoCompression()}, opts...)...)...)
}

// caller makes the three calls of PeerService over one protocol stack, and
// returns errors as *connect.Error whatever the stack, so tests compare
// codes in one way.
type caller interface {
	stat(ctx context.Context, req *peerv1.StatRequest) (*peerv1.StatResponse, error)
	// download calls fn with every message of the stream.
	download(ctx context.Context, req *peerv1.DownloadRequest, fn func(*peerv1.DownloadResponse) error) error
	// upload sends hdr then the chunks next yields until it returns nil.
	upload(ctx context.Context, hdr *peerv1.UploadHeader, next func() []byte) (*peerv1.UploadResponse, error)
}

// callers returns a caller per protocol stack: connect-go with the Connect
// protocol, and grpc-go.
func (e *env) callers(tok string) map[string]caller {
	return map[string]caller{
		"connect": connectCaller{e.client(tok)},
		"grpc":    grpcCaller{conn: e.grpc, tok: tok},
	}
}

type connectCaller struct {
	c peerv1connect.PeerServiceClient
}

func (c connectCaller) stat(ctx context.Context, req *peerv1.StatRequest) (*peerv1.StatResponse, error) {
	res, err := c.c.Stat(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func (c connectCaller) download(ctx context.Context, req *peerv1.DownloadRequest, fn func(*peerv1.DownloadResponse) error) error {
	stream, err := c.c.Download(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		if err := fn(stream.Msg()); err != nil {
			return err
		}
	}
	return stream.Err()
}

func (c connectCaller) upload(ctx context.Context, hdr *peerv1.UploadHeader, next func() []byte) (*peerv1.UploadResponse, error) {
	stream := c.c.Upload(ctx)
	err := stream.Send(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: hdr}})
	for chunk := next(); err == nil && chunk != nil; chunk = next() {
		err = stream.Send(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Chunk{Chunk: chunk}})
	}
	// A failed Send means the server answered early; the answer is in
	// CloseAndReceive.
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

type grpcCaller struct {
	conn *grpc.ClientConn
	tok  string
}

func (c grpcCaller) ctx(ctx context.Context) context.Context {
	if c.tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.tok)
}

// grpcError turns a grpc-go status into a *connect.Error with the same code.
func grpcError(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	st := status.Convert(err)
	return connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
}

func (c grpcCaller) stat(ctx context.Context, req *peerv1.StatRequest) (*peerv1.StatResponse, error) {
	res := new(peerv1.StatResponse)
	if err := c.conn.Invoke(c.ctx(ctx), peerv1connect.PeerServiceStatProcedure, req, res); err != nil {
		return nil, grpcError(err)
	}
	return res, nil
}

func (c grpcCaller) download(ctx context.Context, req *peerv1.DownloadRequest, fn func(*peerv1.DownloadResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.conn.NewStream(c.ctx(ctx), &grpc.StreamDesc{ServerStreams: true}, peerv1connect.PeerServiceDownloadProcedure)
	if err != nil {
		return grpcError(err)
	}
	if err := stream.SendMsg(req); err != nil {
		return grpcError(err)
	}
	if err := stream.CloseSend(); err != nil {
		return grpcError(err)
	}
	for {
		msg := new(peerv1.DownloadResponse)
		err := stream.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return grpcError(err)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

func (c grpcCaller) upload(ctx context.Context, hdr *peerv1.UploadHeader, next func() []byte) (*peerv1.UploadResponse, error) {
	stream, err := c.conn.NewStream(c.ctx(ctx), &grpc.StreamDesc{ClientStreams: true}, peerv1connect.PeerServiceUploadProcedure)
	if err != nil {
		return nil, grpcError(err)
	}
	err = stream.SendMsg(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: hdr}})
	for chunk := next(); err == nil && chunk != nil; chunk = next() {
		err = stream.SendMsg(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Chunk{Chunk: chunk}})
	}
	// On a failed SendMsg (io.EOF: the server answered early) or CloseSend,
	// RecvMsg returns the status.
	if err == nil {
		_ = stream.CloseSend()
	}
	res := new(peerv1.UploadResponse)
	if err := stream.RecvMsg(res); err != nil {
		return nil, grpcError(err)
	}
	return res, nil
}

// chunksOf yields data in chunks of size bytes, then nil.
func chunksOf(data []byte, size int) func() []byte {
	return func() []byte {
		if len(data) == 0 {
			return nil
		}
		n := min(len(data), size)
		c := data[:n]
		data = data[n:]
		return c
	}
}

// downloadAll returns the whole content a download streams, checking that
// chunks are contiguous.
func downloadAll(ctx context.Context, c caller, req *peerv1.DownloadRequest) ([]byte, error) {
	var got []byte
	err := c.download(ctx, req, func(m *peerv1.DownloadResponse) error {
		if m.GetOffset() != req.GetOffset()+int64(len(got)) {
			return errors.New("chunk out of order")
		}
		got = append(got, m.GetData()...)
		return nil
	})
	return got, err
}

// incoming lists the temporary upload files of dir.
func incoming(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(transfer.IncomingDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
