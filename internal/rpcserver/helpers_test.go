package rpcserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
)

// Read limits of the services the tests mount, in bytes.
const (
	loginLimit   = 8 << 10
	publishLimit = 1 << 20
)

// fixture is a real rpcserver on loopback serving DirectoryService (with
// REST routes) and PeerService behind gates, over implementations that
// count the calls that reach them.
type fixture struct {
	addr   string // host:port
	url    string // http://host:port
	issuer *testutil.Issuer
	dir    *directoryImpl
	valid  string // a token issuer signed
	srv    *rpcserver.Server
	// calls counts the calls that reached an implementation.
	calls atomic.Int64
	// verified counts the tokens the authenticator checked.
	verified atomic.Int64
}

// serve starts a fixture with o; mount, if set, mounts more on its Mux.
func serve(t testing.TB, o rpcserver.Options, mount func(*rpcserver.Server)) *fixture {
	t.Helper()
	f := &fixture{issuer: testutil.NewIssuer(t)}
	f.valid = f.issuer.Token(t, time.Now())
	o.Services = []string{directoryv1connect.DirectoryServiceName, peerv1connect.PeerServiceName}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = time.Second
	}
	f.srv = rpcserver.New(o)
	verify := func(ctx context.Context, _, raw string) (token.Claims, error) {
		f.verified.Add(1)
		return f.issuer.Verifier.Verify(ctx, raw)
	}
	auth := rpcserver.NewAuthInterceptor(verify, directoryv1connect.DirectoryServiceLoginProcedure, directoryv1connect.DirectoryServiceGetInfoProcedure)
	dir := &directoryImpl{calls: &f.calls}
	f.dir = dir
	err := f.srv.Mount(rpcserver.Service{
		Name: directoryv1connect.DirectoryServiceName,
		Handler: func(opts ...connect.HandlerOption) (string, http.Handler) {
			return directoryv1connect.NewDirectoryServiceHandler(dir, opts...)
		},
		Auth: auth,
		Limits: rpcserver.ReadLimits{ByProcedure: map[string]int{
			directoryv1connect.DirectoryServiceLoginProcedure:   loginLimit,
			directoryv1connect.DirectoryServicePublishProcedure: publishLimit,
		}},
		REST: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	peer := &peerImpl{calls: &f.calls}
	err = f.srv.Mount(rpcserver.Service{
		Name: peerv1connect.PeerServiceName,
		Handler: func(opts ...connect.HandlerOption) (string, http.Handler) {
			return peerv1connect.NewPeerServiceHandler(peer, opts...)
		},
		Auth:   rpcserver.NewAuthInterceptor(verify),
		Limits: rpcserver.ReadLimits{ByProcedure: map[string]int{peerv1connect.PeerServiceUploadProcedure: publishLimit}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if mount != nil {
		mount(f.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.url = "http://" + f.addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return f
}

// directoryImpl answers Login, GetInfo, Search and Publish, and requires
// the gate's claims for Publish and Search. Search echoes its request in
// the next page token, and records how it was called.
type directoryImpl struct {
	directoryv1connect.UnimplementedDirectoryServiceHandler
	calls *atomic.Int64
	// searchVia is how the last Search call came: "vanguard" (a REST
	// call transcoded), else "connect " and its HTTP method.
	searchVia atomic.Value
}

func (d *directoryImpl) GetInfo(context.Context, *connect.Request[directoryv1.GetInfoRequest]) (*connect.Response[directoryv1.GetInfoResponse], error) {
	d.calls.Add(1)
	return connect.NewResponse(&directoryv1.GetInfoResponse{ServerVersion: "test"}), nil
}

func (d *directoryImpl) Login(_ context.Context, req *connect.Request[directoryv1.LoginRequest]) (*connect.Response[directoryv1.LoginResponse], error) {
	d.calls.Add(1)
	return connect.NewResponse(&directoryv1.LoginResponse{Token: "for " + req.Msg.GetUsername()}), nil
}

func (d *directoryImpl) Search(ctx context.Context, req *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error) {
	d.calls.Add(1)
	via := "connect " + req.HTTPMethod()
	if req.Header().Get("Connect-Protocol-Version") != "" && req.Peer().Query.Has("connect") {
		via = "vanguard" // its Connect GET calls say both
	}
	d.searchVia.Store(via)
	if _, ok := token.FromContext(ctx); !ok {
		return nil, connect.NewError(connect.CodeInternal, errors.New("no claims"))
	}
	m := req.Msg
	if m.GetQuery() == "" {
		return connect.NewResponse(&directoryv1.SearchResponse{}), nil
	}
	echo := fmt.Sprintf("%s|%d|%s", m.GetQuery(), m.GetPageSize(), m.GetPageToken())
	return connect.NewResponse(&directoryv1.SearchResponse{NextPageToken: echo}), nil
}

func (d *directoryImpl) Publish(ctx context.Context, req *connect.Request[directoryv1.PublishRequest]) (*connect.Response[directoryv1.PublishResponse], error) {
	d.calls.Add(1)
	if _, ok := token.FromContext(ctx); !ok {
		return nil, connect.NewError(connect.CodeInternal, errors.New("no claims"))
	}
	return connect.NewResponse(&directoryv1.PublishResponse{FileCount: int64(len(req.Msg.GetSnapshot().GetFiles()))}), nil
}

// peerImpl answers Upload by counting the chunks' bytes.
type peerImpl struct {
	peerv1connect.UnimplementedPeerServiceHandler
	calls *atomic.Int64
}

func (p *peerImpl) Upload(_ context.Context, stream *connect.ClientStream[peerv1.UploadRequest]) (*connect.Response[peerv1.UploadResponse], error) {
	p.calls.Add(1)
	var n int64
	for stream.Receive() {
		n += int64(len(stream.Msg().GetChunk()))
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&peerv1.UploadResponse{Size: n}), nil
}

// codeOf returns err's Connect code, failing the test for another error.
func codeOf(t testing.TB, err error) connect.Code {
	t.Helper()
	if err == nil {
		return 0
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a connect error: %v", err)
	}
	return ce.Code()
}
