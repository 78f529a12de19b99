package peer

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// directoryProxy makes every peer an access point to the network: it serves
// the read-only DirectoryService methods (and a client's login, heartbeat and
// logout) by forwarding them, with the caller's own token, to the peer's
// directory, so a client that knows one peer can find everything. Transfers
// still go straight to the peer that has the file. A peer's login and
// Publish are refused: they belong at the directory itself.
type directoryProxy struct {
	directoryv1connect.UnimplementedDirectoryServiceHandler
	upstream directoryv1connect.DirectoryServiceClient
}

func newDirectoryProxy(httpClient *http.Client, directory string) *directoryProxy {
	return &directoryProxy{upstream: directoryv1connect.NewDirectoryServiceClient(httpClient, directory, rpcclient.Options(new(rpcclient.Token))...)}
}

// forward copies the caller's Authorization header onto the upstream call.
func forward[T any](in connect.AnyRequest, msg *T) *connect.Request[T] {
	out := connect.NewRequest(msg)
	if v := in.Header().Get("Authorization"); v != "" {
		out.Header().Set("Authorization", v)
	}
	return out
}

func (p *directoryProxy) GetInfo(ctx context.Context, req *connect.Request[directoryv1.GetInfoRequest]) (*connect.Response[directoryv1.GetInfoResponse], error) {
	return p.upstream.GetInfo(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) Search(ctx context.Context, req *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error) {
	return p.upstream.Search(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) ListPeers(ctx context.Context, req *connect.Request[directoryv1.ListPeersRequest]) (*connect.Response[directoryv1.ListPeersResponse], error) {
	return p.upstream.ListPeers(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) ListFiles(ctx context.Context, req *connect.Request[directoryv1.ListFilesRequest]) (*connect.Response[directoryv1.ListFilesResponse], error) {
	return p.upstream.ListFiles(ctx, forward(req, req.Msg))
}

var errAtDirectory = errors.New("peers log in and publish at the directory itself; a peer forwards only client logins, heartbeats, logouts and read-only calls")

// Login forwards client logins, so a user who knows only this peer can
// still search; a peer must log in at the directory itself.
func (p *directoryProxy) Login(ctx context.Context, req *connect.Request[directoryv1.LoginRequest]) (*connect.Response[directoryv1.LoginResponse], error) {
	if req.Msg.GetAdvertiseAddress() != "" {
		return nil, connect.NewError(connect.CodeUnimplemented, errAtDirectory)
	}
	return p.upstream.Login(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) Heartbeat(ctx context.Context, req *connect.Request[directoryv1.HeartbeatRequest]) (*connect.Response[directoryv1.HeartbeatResponse], error) {
	return p.upstream.Heartbeat(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) Logout(ctx context.Context, req *connect.Request[directoryv1.LogoutRequest]) (*connect.Response[directoryv1.LogoutResponse], error) {
	return p.upstream.Logout(ctx, forward(req, req.Msg))
}

func (p *directoryProxy) Publish(context.Context, *connect.Request[directoryv1.PublishRequest]) (*connect.Response[directoryv1.PublishResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errAtDirectory)
}
