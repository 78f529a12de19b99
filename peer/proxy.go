package peer

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// directoryProxy makes every peer an access point to the network: it serves
// the read-only DirectoryService methods (GetInfo, Search, WatchSearch,
// ListPeers, ListFiles) by forwarding them, with the caller's read token (checked by
// readAuth first), to the peer's directory, so a client that knows one peer
// can find everything. Transfers still go straight to the peer that has the
// file.
//
// Everything that takes a password or a session token (Login, Heartbeat,
// Logout, Publish, IssueToken) is refused with the directory's URL: a peer
// must never see those secrets. GetInfo names that URL too
// (directory_url), so a client given a peer's URL logs in at the directory.
type directoryProxy struct {
	directoryv1connect.UnimplementedDirectoryServiceHandler
	upstream  directoryv1connect.DirectoryServiceClient
	directory string
}

// proxyPublic are the procedures the proxy answers without a token: GetInfo
// (public at the directory too) and those it refuses anyway, whose refusal
// names the directory's URL.
var proxyPublic = []string{
	directoryv1connect.DirectoryServiceGetInfoProcedure,
	directoryv1connect.DirectoryServiceLoginProcedure,
	directoryv1connect.DirectoryServiceHeartbeatProcedure,
	directoryv1connect.DirectoryServiceLogoutProcedure,
	directoryv1connect.DirectoryServicePublishProcedure,
	directoryv1connect.DirectoryServiceIssueTokenProcedure,
}

func newDirectoryProxy(httpClient *http.Client, base, directory string) *directoryProxy {
	return &directoryProxy{
		upstream:  directoryv1connect.NewDirectoryServiceClient(httpClient, base, rpcclient.Options(new(rpcclient.Token))...),
		directory: directory,
	}
}

// forward copies the caller's Authorization header onto the upstream call.
func forward[T any](in connect.AnyRequest, msg *T) *connect.Request[T] {
	out := connect.NewRequest(msg)
	if v := in.Header().Get("Authorization"); v != "" {
		out.Header().Set("Authorization", v)
	}
	return out
}

// atDirectory refuses a call that belongs at the directory itself.
func (p *directoryProxy) atDirectory(what string) error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
		"this is a peer, not the directory: %s at the directory itself, %s (a peer forwards only GetInfo, Search, WatchSearch, ListPeers and ListFiles, with a read token)",
		what, p.directory))
}

// GetInfo forwards the directory's description, naming the directory's URL.
func (p *directoryProxy) GetInfo(ctx context.Context, req *connect.Request[directoryv1.GetInfoRequest]) (*connect.Response[directoryv1.GetInfoResponse], error) {
	res, err := p.upstream.GetInfo(ctx, forward(req, req.Msg))
	if err != nil {
		return nil, err
	}
	res.Msg.DirectoryUrl = p.directory
	return res, nil
}

func (p *directoryProxy) Search(ctx context.Context, req *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error) {
	return p.upstream.Search(ctx, forward(req, req.Msg))
}

// WatchSearch forwards a live search, event by event, until either end
// hangs up.
func (p *directoryProxy) WatchSearch(ctx context.Context, req *connect.Request[directoryv1.WatchSearchRequest], stream *connect.ServerStream[directoryv1.WatchSearchResponse]) error {
	up, err := p.upstream.WatchSearch(ctx, forward(req, req.Msg))
	if err != nil {
		return err
	}
	defer up.Close()
	for up.Receive() {
		if err := stream.Send(up.Msg()); err != nil {
			return err
		}
	}
	return up.Err()
}

func (p *directoryProxy) ListPeers(ctx context.Context, req *connect.Request[directoryv1.ListPeersRequest]) (*connect.Response[directoryv1.ListPeersResponse], error) {
	return p.upstream.ListPeers(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) ListFiles(ctx context.Context, req *connect.Request[directoryv1.ListFilesRequest]) (*connect.Response[directoryv1.ListFilesResponse], error) {
	return p.upstream.ListFiles(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) Login(context.Context, *connect.Request[directoryv1.LoginRequest]) (*connect.Response[directoryv1.LoginResponse], error) {
	return nil, p.atDirectory("log in")
}

func (p *directoryProxy) Heartbeat(context.Context, *connect.Request[directoryv1.HeartbeatRequest]) (*connect.Response[directoryv1.HeartbeatResponse], error) {
	return nil, p.atDirectory("heartbeat")
}

func (p *directoryProxy) Logout(context.Context, *connect.Request[directoryv1.LogoutRequest]) (*connect.Response[directoryv1.LogoutResponse], error) {
	return nil, p.atDirectory("log out")
}

func (p *directoryProxy) Publish(context.Context, *connect.Request[directoryv1.PublishRequest]) (*connect.Response[directoryv1.PublishResponse], error) {
	return nil, p.atDirectory("publish")
}

func (p *directoryProxy) IssueToken(context.Context, *connect.Request[directoryv1.IssueTokenRequest]) (*connect.Response[directoryv1.IssueTokenResponse], error) {
	return nil, p.atDirectory("ask for tokens")
}
