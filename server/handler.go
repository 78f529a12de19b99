package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
)

// handler serves DirectoryService: it decodes each request into the
// directory's types, calls the directory, and encodes the answer. Rules live
// in package directory; errors become codes in connectError.
type handler struct {
	dir           *directory.Directory
	log           *slog.Logger
	loginFailures *prometheus.CounterVec
	// relayed reports whether a peer waits at this directory's relay; nil
	// without a relay.
	relayed func(peer string) bool
}

var _ directoryv1connect.DirectoryServiceHandler = (*handler)(nil)

// fail turns err into the Connect error of procedure.
func (h *handler) fail(ctx context.Context, procedure string, err error) error {
	return connectError(ctx, h.log, procedure, err)
}

// caller returns the claims the auth interceptor verified.
func caller(ctx context.Context) (token.Claims, error) {
	c, ok := token.FromContext(ctx)
	if !ok {
		return token.Claims{}, connect.NewError(connect.CodeUnauthenticated, errors.New("no verified token"))
	}
	return c, nil
}

// GetInfo implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) GetInfo(_ context.Context, _ *connect.Request[directoryv1.GetInfoRequest]) (*connect.Response[directoryv1.GetInfoResponse], error) {
	info := h.dir.Info()
	keys := make([]*directoryv1.PublicKey, len(info.Keys))
	for i, k := range info.Keys {
		keys[i] = &directoryv1.PublicKey{KeyId: k.ID, Algorithm: token.Algorithm, PublicKey: k.Key}
	}
	return connect.NewResponse(&directoryv1.GetInfoResponse{
		ServerVersion:     info.Version,
		HeartbeatInterval: durationpb.New(info.HeartbeatInterval),
		SessionTtl:        durationpb.New(info.SessionTTL),
		Keys:              keys,
		MaxPublishEntries: int32(info.MaxPublishEntries),
		MaxPeerEntries:    int32(info.MaxPeerFiles),
		TokenIssuer:       info.Issuer,
	}), nil
}

// Login implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) Login(ctx context.Context, req *connect.Request[directoryv1.LoginRequest]) (*connect.Response[directoryv1.LoginResponse], error) {
	m := req.Msg
	g, err := h.dir.Login(ctx, directory.Credentials{
		Username:         m.GetUsername(),
		Password:         m.GetPassword(),
		AdvertiseAddress: m.GetAdvertiseAddress(),
		PeerName:         m.GetPeerName(),
		// The client's address as the connection shows it: behind a
		// proxy, the proxy's (see directory.MaxLoginsInFlight).
		RemoteAddr: req.Peer().Addr,
		Refresh:    m.GetRefresh(),
		KeyProof:   keyProofFromProto(m.GetKeyProof()),
	})
	switch {
	case errors.Is(err, directory.ErrUnauthenticated):
		h.loginFailures.WithLabelValues("bad_credentials").Inc()
	case errors.Is(err, directory.ErrTooManyAttempts):
		h.loginFailures.WithLabelValues("rate_limited").Inc()
	}
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.LoginResponse{
		Token:             g.Token,
		ExpiresAt:         timestamppb.New(g.ExpiresAt),
		SessionId:         g.SessionID,
		HeartbeatInterval: durationpb.New(g.HeartbeatInterval),
		PeerName:          g.PeerName,
		RevokedSessionIds: g.Revocations.SessionIDs,
		RefreshToken:      g.RefreshToken,
		RefreshExpiresAt:  optionalTime(g.RefreshExpiresAt),
	}), nil
}

// optionalTime is t as a protocol timestamp, nil for the zero time.
func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Refresh implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) Refresh(ctx context.Context, req *connect.Request[directoryv1.RefreshRequest]) (*connect.Response[directoryv1.RefreshResponse], error) {
	g, user, err := h.dir.Refresh(ctx, req.Msg.GetRefreshToken())
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.RefreshResponse{
		Token:             g.Token,
		ExpiresAt:         timestamppb.New(g.ExpiresAt),
		SessionId:         g.SessionID,
		HeartbeatInterval: durationpb.New(g.HeartbeatInterval),
		Username:          user,
	}), nil
}

// Heartbeat implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) Heartbeat(ctx context.Context, req *connect.Request[directoryv1.HeartbeatRequest]) (*connect.Response[directoryv1.HeartbeatResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var since time.Time
	if ts := req.Msg.GetRevocationsSince(); ts.IsValid() {
		since = ts.AsTime()
	}
	g, err := h.dir.Heartbeat(ctx, c, since)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.HeartbeatResponse{
		Token:                  g.Token,
		ExpiresAt:              timestamppb.New(g.ExpiresAt),
		RevokedSessionIds:      g.Revocations.SessionIDs,
		HeartbeatInterval:      durationpb.New(g.HeartbeatInterval),
		SessionTtl:             durationpb.New(g.SessionTTL),
		Reachability:           h.dialBackResult(c.Peer, c.SessionID),
		RevocationsAsOf:        optionalTime(g.Revocations.AsOf),
		RevocationsIncremental: g.Revocations.Incremental,
	}), nil
}

// tokenScopes maps the protocol's token scopes to the token package's.
var tokenScopes = map[directoryv1.TokenScope]string{
	directoryv1.TokenScope_TOKEN_SCOPE_READ:     token.ScopeRead,
	directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD: token.ScopeDownload,
	directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD:   token.ScopeUpload,
	directoryv1.TokenScope_TOKEN_SCOPE_STATUS:   token.ScopeStatus,
	directoryv1.TokenScope_TOKEN_SCOPE_RELAY:    token.ScopeRelay,
}

// IssueToken implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) IssueToken(ctx context.Context, req *connect.Request[directoryv1.IssueTokenRequest]) (*connect.Response[directoryv1.IssueTokenResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	scope, ok := tokenScopes[req.Msg.GetScope()]
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("scope %s: want READ, DOWNLOAD, UPLOAD or STATUS", req.Msg.GetScope()))
	}
	is, err := h.dir.IssueToken(ctx, c, directory.TokenRequest{Scope: scope, Peer: req.Msg.GetPeer(), SHA256: req.Msg.GetSha256(), Name: req.Msg.GetName()})
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.IssueTokenResponse{Token: is.Token, ExpiresAt: timestamppb.New(is.ExpiresAt), Link: is.Link, Pin: is.Pin}), nil
}

// Logout implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) Logout(ctx context.Context, req *connect.Request[directoryv1.LogoutRequest]) (*connect.Response[directoryv1.LogoutResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.dir.Logout(ctx, c, req.Msg.GetRefreshToken()); err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.LogoutResponse{}), nil
}

// Publish implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) Publish(ctx context.Context, req *connect.Request[directoryv1.PublishRequest]) (*connect.Response[directoryv1.PublishResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := changeFromProto(req.Msg)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	n, err := h.dir.Publish(ctx, c, ch)
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.PublishResponse{FileCount: n}), nil
}

// Search implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) Search(ctx context.Context, req *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error) {
	m := req.Msg
	results, next, err := h.dir.Search(ctx, store.SearchQuery{
		// Names are stored in NFC (sharepath.Check): so is the query,
		// whatever form the caller typed it in.
		Query:        sharepath.Normalize(m.GetQuery()),
		SHA256:       m.GetSha256(),
		SHA256Prefix: m.GetSha256Prefix(),
		PageSize:     int(m.GetPageSize()),
		PageToken:    m.GetPageToken(),
	})
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.SearchResponse{Results: h.searchResults(results), NextPageToken: next}), nil
}

// searchResults encodes results of Search or WatchSearch, each source
// with its pin (which the store's search returns with it) and
// reachability.
func (h *handler) searchResults(results []store.SearchResult) []*directoryv1.SearchResult {
	out := make([]*directoryv1.SearchResult, len(results))
	for i, r := range results {
		sources := make([]*directoryv1.Source, len(r.Sources))
		for j, s := range r.Sources {
			sources[j] = &directoryv1.Source{Peer: s.Peer, Username: s.Username, Address: s.Address, Name: s.Name, LastSeen: timestamp(s.LastSeen),
				Reachability: h.reachability(s.Peer, s.Address), Pin: s.Pin}
		}
		out[i] = &directoryv1.SearchResult{
			Sha256:       r.SHA256,
			Size:         r.Size,
			PieceSize:    r.PieceSize,
			PieceRoot:    r.PieceRoot,
			Names:        r.Names,
			Sources:      sources,
			AccountCount: int32(min(r.AccountCount, math.MaxInt32)),
		}
	}
	return out
}

// ListPeers implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) ListPeers(ctx context.Context, req *connect.Request[directoryv1.ListPeersRequest]) (*connect.Response[directoryv1.ListPeersResponse], error) {
	peers, next, err := h.dir.ListPeers(ctx, store.Page{Size: int(req.Msg.GetPageSize()), Token: req.Msg.GetPageToken()})
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	out := make([]*directoryv1.PeerInfo, len(peers))
	for i, p := range peers {
		out[i] = &directoryv1.PeerInfo{
			Name:         p.Session.PeerName,
			Address:      p.Session.Address,
			Username:     p.Session.Username,
			FileCount:    p.FileCount,
			LastSeen:     timestamp(p.Session.LastSeen),
			OnlineSince:  timestamp(p.Session.Created),
			Reachability: h.reachability(p.Session.PeerName, p.Session.Address),
			Pin:          p.Pin.Pin,
			PinChangedAt: optionalTime(p.Pin.ChangedAt),
		}
	}
	return connect.NewResponse(&directoryv1.ListPeersResponse{Peers: out, NextPageToken: next}), nil
}

// ListFiles implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) ListFiles(ctx context.Context, req *connect.Request[directoryv1.ListFilesRequest]) (*connect.Response[directoryv1.ListFilesResponse], error) {
	m := req.Msg
	files, next, err := h.dir.ListFiles(ctx, m.GetPeer(), store.Page{Size: int(m.GetPageSize()), Token: m.GetPageToken()})
	if err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	out := make([]*directoryv1.SharedFile, len(files))
	for i, f := range files {
		out[i] = &directoryv1.SharedFile{Peer: f.Peer, Address: f.Address, File: fileToProto(f.File), Pin: f.Pin}
	}
	return connect.NewResponse(&directoryv1.ListFilesResponse{Files: out, NextPageToken: next}), nil
}

// ReleasePeerName implements directoryv1connect.DirectoryServiceHandler.
func (h *handler) ReleasePeerName(ctx context.Context, req *connect.Request[directoryv1.ReleasePeerNameRequest]) (*connect.Response[directoryv1.ReleasePeerNameResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.dir.ReleasePeerName(ctx, c, req.Msg.GetName()); err != nil {
		return nil, h.fail(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&directoryv1.ReleasePeerNameResponse{}), nil
}

// changeFromProto decodes a publish request into the directory's change.
// Errors: (a caller's mistake) no change, or an entry whose modification
// time is not a valid timestamp.
func changeFromProto(req *directoryv1.PublishRequest) (directory.Change, error) {
	switch x := req.GetChange().(type) {
	case *directoryv1.PublishRequest_Snapshot:
		files, err := filesFromProto(x.Snapshot.GetFiles())
		return directory.Change{Snapshot: true, Added: files}, err
	case *directoryv1.PublishRequest_Delta:
		files, err := filesFromProto(x.Delta.GetAdded())
		return directory.Change{Added: files, Removed: x.Delta.GetRemoved()}, err
	default:
		return directory.Change{}, errors.New("change: give a snapshot or a delta")
	}
}

// filesFromProto decodes file entries. The directory checks everything else
// of them (directory.CheckFile).
func filesFromProto(in []*directoryv1.FileEntry) ([]store.File, error) {
	out := make([]store.File, len(in))
	for i, f := range in {
		var modified time.Time
		if m := f.GetModified(); m != nil {
			// AsTime would quietly normalize what CheckValid refuses.
			if err := m.CheckValid(); err != nil {
				return nil, fmt.Errorf("file %d: modified: %w", i, err)
			}
			modified = m.AsTime()
		}
		out[i] = store.File{
			Name:      f.GetName(),
			Size:      f.GetSize(),
			SHA256:    f.GetSha256(),
			PieceSize: f.GetPieceSize(),
			PieceRoot: f.GetPieceRoot(),
			Modified:  modified,
		}
	}
	return out, nil
}

// fileToProto encodes a file entry.
func fileToProto(f store.File) *directoryv1.FileEntry {
	return &directoryv1.FileEntry{
		Name:      f.Name,
		Size:      f.Size,
		Sha256:    f.SHA256,
		PieceSize: f.PieceSize,
		PieceRoot: f.PieceRoot,
		Modified:  timestamp(f.Modified),
	}
}

// timestamp encodes t, leaving the zero time unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// keyProofFromProto is the domain's KeyProof of a login's key_proof; nil
// if absent.
func keyProofFromProto(p *directoryv1.KeyProof) *directory.KeyProof {
	if p == nil {
		return nil
	}
	return &directory.KeyProof{PublicKey: p.GetPublicKey(), SignedAt: p.GetSignedAt().AsTime(), Signature: p.GetSignature()}
}
