package downloader_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

const mib = 1 << 20

// auth stands in for a directory: peers accept the tokens it issues, as
// they accept their directory's.
type auth struct{ *testutil.Issuer }

func newAuth(t testing.TB) *auth { return &auth{testutil.NewIssuer(t)} }

// token returns a fresh client token.
func (a *auth) token(t testing.TB) *rpcclient.Token {
	t.Helper()
	tok := new(rpcclient.Token)
	tok.Set(a.Token(t, time.Now()))
	return tok
}

// peerOptions adjust a test peer.
type peerOptions struct {
	maxRate       int64 // bytes per second, 0 for no cap
	acceptUploads bool
	// maxPerAccount is transfer.Options.MaxPerAccount: 0 for its default.
	maxPerAccount int
	// interceptor, if set, wraps the PeerService handler (a corrupting
	// or stalling peer).
	interceptor connect.Interceptor
}

// testPeer is a real PeerService (transfer.Service over an index of a
// folder) on a loopback port.
type testPeer struct {
	URL  string
	Dir  string
	sent atomic.Int64 // file bytes sent in Download responses
	// streams is how many PeerService streams its handlers are serving.
	streams atomic.Int64
	stop    func()
	once    sync.Once
}

// resetSent waits until the peer serves no stream (those of a download
// that ended may still be sending its last chunk) and zeroes its count of
// bytes sent.
func (p *testPeer) resetSent(t testing.TB) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, "the peer's streams end", func() error {
		if n := p.streams.Load(); n > 0 {
			return fmt.Errorf("%d streams running", n)
		}
		return nil
	})
	p.sent.Store(0)
}

// Stop closes the peer's server at once, cutting running streams.
func (p *testPeer) Stop() { p.once.Do(p.stop) }

// startPeer serves dir's files (indexed once) on 127.0.0.1:0 until the test
// ends or Stop is called.
func startPeer(t testing.TB, a *auth, dir string, o peerOptions) *testPeer {
	t.Helper()
	ctx := context.Background()
	discard := slog.New(slog.DiscardHandler)
	ix, err := index.Open(ctx, index.Options{Dir: dir, StateDir: t.TempDir(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	if _, err := ix.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := transfer.New(transfer.Options{
		Catalog:       ix,
		Root:          ix.Root(),
		MaxRate:       o.maxRate,
		MaxPerAccount: o.maxPerAccount,
		AcceptUploads: o.acceptUploads,
		Logger:        discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{Dir: dir}
	srv := rpcserver.New(rpcserver.Options{Services: []string{peerv1connect.PeerServiceName}, ShutdownGrace: time.Millisecond, Logger: discard})
	authn := rpcserver.NewAuthInterceptor(func(ctx context.Context, _, raw string) (token.Claims, error) { return a.Verifier.Verify(ctx, raw) })
	interceptors := []connect.Interceptor{authn, &sentCounter{n: &p.sent, streams: &p.streams}}
	if o.interceptor != nil {
		interceptors = append(interceptors, o.interceptor)
	}
	// Mounted by hand for the extra interceptors, so with the read limit
	// rpcserver.Mount would give uploads.
	path, h := transferapi.NewHandler(svc, discard, append(srv.HandlerOptions(interceptors...), connect.WithReadMaxBytes(transferapi.ReadLimits.For(peerv1connect.PeerServiceUploadProcedure)))...)
	srv.Mux.Handle(path, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.URL = "http://" + ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(sctx, ln)
	}()
	p.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(p.Stop)
	return p
}

// streamInterceptor is a connect.Interceptor that only wraps handler
// streams.
type streamInterceptor struct {
	wrap func(context.Context, connect.StreamingHandlerConn) connect.StreamingHandlerConn
}

func (i *streamInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }
func (i *streamInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
func (i *streamInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, i.wrap(ctx, conn))
	}
}

// sendHook is a handler stream whose Send goes through fn.
type sendHook struct {
	connect.StreamingHandlerConn
	fn func(msg any) error
}

func (s *sendHook) Send(msg any) error { return s.fn(msg) }

// sentCounter counts the file bytes a peer sends, and the streams it is
// serving.
type sentCounter struct {
	streamInterceptor
	n       *atomic.Int64
	streams *atomic.Int64
}

func (c *sentCounter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		c.streams.Add(1)
		defer c.streams.Add(-1)
		return next(ctx, &sendHook{StreamingHandlerConn: conn, fn: func(msg any) error {
			if m, ok := msg.(*peerv1.DownloadResponse); ok {
				c.n.Add(int64(len(m.GetData())))
			}
			return conn.Send(msg)
		}})
	}
}

// corrupter is a PeerService wrapper that flips a byte of every chunk it
// sends: a peer whose disk or memory went bad, or a liar.
func corrupter() connect.Interceptor {
	return &streamInterceptor{wrap: func(_ context.Context, conn connect.StreamingHandlerConn) connect.StreamingHandlerConn {
		return &sendHook{StreamingHandlerConn: conn, fn: func(msg any) error {
			if m, ok := msg.(*peerv1.DownloadResponse); ok && len(m.GetData()) > 0 {
				// Data points into the service's read buffer: send a copy.
				bad := append([]byte(nil), m.GetData()...)
				bad[len(bad)/2] ^= 0x40
				msg = &peerv1.DownloadResponse{Offset: m.GetOffset(), Data: bad}
			}
			return conn.Send(msg)
		}}
	}}
}

// staller is a PeerService wrapper that sends the first chunk of the
// downloads it stalls and then nothing, until the client gives up. It
// stalls the first `first` downloads, or all of them if first < 0.
func staller(first int) connect.Interceptor {
	var calls atomic.Int64
	return &streamInterceptor{wrap: func(ctx context.Context, conn connect.StreamingHandlerConn) connect.StreamingHandlerConn {
		if conn.Spec().Procedure != peerv1connect.PeerServiceDownloadProcedure {
			return conn
		}
		if k := calls.Add(1); first >= 0 && k > int64(first) {
			return conn
		}
		var sent bool
		return &sendHook{StreamingHandlerConn: conn, fn: func(msg any) error {
			if sent {
				select {
				case <-time.After(time.Minute):
				case <-ctx.Done():
				}
				return context.Canceled
			}
			sent = true
			return conn.Send(msg)
		}}
	}}
}

// contentSeed makes every content a test writes differ from the others.
var contentSeed atomic.Uint64

// content writes size random bytes to a file named name in a new folder
// and returns the folder and the content's SHA-256.
func content(t testing.TB, name string, size int64) (dir, sum string) {
	t.Helper()
	dir = t.TempDir()
	return dir, testutil.WriteRandomFile(t, filepath.Join(dir, name), size, contentSeed.Add(1))
}

// served serves a new content of size random bytes, named name, from one
// test peer per element of opts, each with its own copy. It returns the
// token authority, the peers, the content as the directory would announce
// it, and a destination for it in a new folder.
func served(t testing.TB, name string, size int64, opts ...peerOptions) (a *auth, peers []*testPeer, tgt downloader.Target, dest string) {
	t.Helper()
	a = newAuth(t)
	src, sum := content(t, name, size)
	for i, d := range share(t, filepath.Join(src, name), len(opts)) {
		peers = append(peers, startPeer(t, a, d, opts[i]))
	}
	return a, peers, target(t, a, peers[0], sum), filepath.Join(t.TempDir(), name)
}

// interrupted downloads tgt from p into dest and cancels the download once
// stop holds for its progress, as a user's Ctrl-C would; it returns what
// Download returned.
func interrupted(t testing.TB, a *auth, tgt downloader.Target, p *testPeer, dest string, stop func(downloader.Progress) bool) (*downloader.Result, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	return downloader.Download(ctx, tgt, sources(p), downloader.Options{
		Dest:             dest,
		Token:            a.token(t),
		ProgressInterval: 2 * time.Millisecond,
		Progress: func(pr downloader.Progress) {
			if stop(pr) {
				cancel()
			}
		},
	})
}

// share makes n folders that each hold a copy (a hard link where possible)
// of the file src.
func share(t testing.TB, src string, n int) []string {
	t.Helper()
	var dirs []string
	for range n {
		d := t.TempDir()
		dst := filepath.Join(d, filepath.Base(src))
		if err := os.Link(src, dst); err != nil {
			copyFile(t, src, dst)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// target describes the file name in the first peer, as the directory would
// announce it: it asks the peer (Stat) like a directory's index would know.
func target(t testing.TB, a *auth, p *testPeer, sum string) downloader.Target {
	t.Helper()
	c := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p.URL, rpcclient.Options(a.token(t))...)
	res, err := c.Stat(t.Context(), connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Sha256{Sha256: sum}}))
	if err != nil {
		t.Fatal(err)
	}
	return downloader.Target{SHA256: res.Msg.GetSha256(), Size: res.Msg.GetSize(), PieceSize: int64(res.Msg.GetPieceSize()), PieceRoot: res.Msg.GetPieceRoot()}
}

// sources lists peers as download sources.
func sources(ps ...*testPeer) []downloader.Source {
	var out []downloader.Source
	for i, p := range ps {
		out = append(out, downloader.Source{Peer: string(rune('a' + i)), Address: p.URL})
	}
	return out
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, os.ErrNotExist)
}
