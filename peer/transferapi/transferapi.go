// Package transferapi owns the wire side of a peer's transfers: the Connect
// handler of peerhub.peer.v1.PeerService, which decodes requests, calls a
// transfer.Service and encodes its answers, the one mapping of the
// service's errors to status codes, and the client helpers that read a
// download stream without copying it more than decoding must (Fetch,
// ReadRange).
package transferapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/clientaddr"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/transfer"
)

// Handler implements peerv1connect.PeerServiceHandler over a
// transfer.Service.
type Handler struct {
	svc *transfer.Service
	log *slog.Logger
}

var _ peerv1connect.PeerServiceHandler = (*Handler)(nil)

// NewHandler returns the path and the handler of PeerService over svc, to
// mount on an rpcserver.Server's Mux; opts are usually its
// HandlerOptions(auth). log receives the peer's internal errors (see
// connectError); discarded if nil.
//
// Its responses are never compressed, whatever the client accepts: file
// data does not shrink, and connect's gzip caps a stream at ~50 MiB/s. (It
// also means the handler accepts no gzip-compressed requests; peerhub's
// clients send none.)
func NewHandler(svc *transfer.Service, log *slog.Logger, opts ...connect.HandlerOption) (string, http.Handler) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Last, so that no option passed in can bring gzip back.
	opts = append(slices.Clip(opts), connect.WithCompression("gzip", nil, nil))
	return peerv1connect.NewPeerServiceHandler(&Handler{svc: svc, log: log}, opts...)
}

// ReadLimits bound each PeerService request, in bytes: an Upload message
// holds a chunk of at most 4 MiB (the proto's limit), which JSON writes in
// base64, a third longer; every other request a name or a hash, within
// rpcserver.DefaultReadLimit.
var ReadLimits = rpcserver.ReadLimits{ByProcedure: map[string]int{
	peerv1connect.PeerServiceUploadProcedure: uploadMessageBytes,
}}

// uploadMessageBytes is the largest UploadRequest: a 4 MiB chunk in base64
// and room for its framing.
const uploadMessageBytes = (transfer.MaxChunkSize+2)/3*4 + 4<<10

// caller is who makes a call, for the per-caller caps of the transfer
// service: the account of the token (put in ctx by the auth gate) and the
// address the call comes from.
func caller(ctx context.Context, p connect.Peer) context.Context {
	c, _ := token.FromContext(ctx)
	return transfer.WithCaller(ctx, transfer.Caller{Account: c.Subject, Address: clientaddr.Of(p.Addr)})
}

// Stat implements peerv1connect.PeerServiceHandler.
func (h *Handler) Stat(ctx context.Context, req *connect.Request[peerv1.StatRequest]) (*connect.Response[peerv1.StatResponse], error) {
	info, err := h.svc.Stat(ctx, transfer.Target{SHA256: req.Msg.GetSha256(), Name: req.Msg.GetName()})
	if err != nil {
		return nil, h.connectError(ctx, peerv1connect.PeerServiceStatProcedure, err)
	}
	res := &peerv1.StatResponse{
		Sha256:      info.SHA256,
		Size:        info.Size,
		Names:       info.Names,
		PieceSize:   int32(info.PieceSize),
		PieceHashes: make([][]byte, len(info.PieceHashes)),
		PieceRoot:   info.PieceRoot,
	}
	for i := range info.PieceHashes {
		// Aliases the index's hashes, which are never modified.
		res.PieceHashes[i] = info.PieceHashes[i][:]
	}
	if !info.Modified.IsZero() {
		res.Modified = timestamppb.New(info.Modified)
	}
	return connect.NewResponse(res), nil
}

// Download implements peerv1connect.PeerServiceHandler.
func (h *Handler) Download(ctx context.Context, req *connect.Request[peerv1.DownloadRequest], stream *connect.ServerStream[peerv1.DownloadResponse]) error {
	r := transfer.Range{
		Target: transfer.Target{SHA256: req.Msg.GetSha256(), Name: req.Msg.GetName()},
		Offset: req.Msg.GetOffset(),
		Length: req.Msg.GetLength(),
	}
	// One message for the whole stream: Send encodes it before returning,
	// so Data may point into the service's reused buffer.
	msg := &peerv1.DownloadResponse{}
	err := h.svc.Download(caller(ctx, req.Peer()), r, func(off int64, data []byte) error {
		msg.Offset, msg.Data = off, data
		return stream.Send(msg)
	})
	return h.connectError(ctx, peerv1connect.PeerServiceDownloadProcedure, err)
}

// errHeaderFirst and errHeaderTwice are the ways an Upload stream can break
// its shape.
var (
	errHeaderFirst = errors.New("the first message of an upload must be its header")
	errHeaderTwice = errors.New("an upload has one header, before all chunks")
)

// Upload implements peerv1connect.PeerServiceHandler.
func (h *Handler) Upload(ctx context.Context, stream *connect.ClientStream[peerv1.UploadRequest]) (*connect.Response[peerv1.UploadResponse], error) {
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, h.connectError(ctx, peerv1connect.PeerServiceUploadProcedure, err)
		}
		return nil, h.connectError(ctx, peerv1connect.PeerServiceUploadProcedure, fmt.Errorf("%w: %w", transfer.ErrInvalid, errHeaderFirst))
	}
	hdr := stream.Msg().GetHeader()
	if hdr == nil {
		return nil, h.connectError(ctx, peerv1connect.PeerServiceUploadProcedure, fmt.Errorf("%w: %w", transfer.ErrInvalid, errHeaderFirst))
	}
	next := func() ([]byte, error) {
		if !stream.Receive() {
			if err := stream.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		if stream.Msg().GetHeader() != nil {
			return nil, fmt.Errorf("%w: %w", transfer.ErrInvalid, errHeaderTwice)
		}
		return stream.Msg().GetChunk(), nil
	}
	st, err := h.svc.Upload(caller(ctx, stream.Peer()), transfer.UploadHeader{Name: hdr.GetName(), Size: hdr.GetSize(), SHA256: hdr.GetSha256()}, next)
	if err != nil {
		return nil, h.connectError(ctx, peerv1connect.PeerServiceUploadProcedure, err)
	}
	return connect.NewResponse(&peerv1.UploadResponse{Name: st.Name, Size: st.Size, Sha256: st.SHA256}), nil
}

// codes maps each sentinel of package transfer to its Connect code.
var codes = []rpcserver.ErrorCode{
	{Err: transfer.ErrInvalid, Code: connect.CodeInvalidArgument},
	{Err: transfer.ErrNotFound, Code: connect.CodeNotFound},
	{Err: transfer.ErrChanged, Code: connect.CodeFailedPrecondition},
	{Err: transfer.ErrOutOfRange, Code: connect.CodeOutOfRange},
	{Err: transfer.ErrBusy, Code: connect.CodeResourceExhausted},
	{Err: transfer.ErrTooLarge, Code: connect.CodeResourceExhausted},
	{Err: transfer.ErrNoSpace, Code: connect.CodeResourceExhausted},
	{Err: transfer.ErrUploadsDisabled, Code: connect.CodePermissionDenied},
	{Err: transfer.ErrExists, Code: connect.CodeAlreadyExists},
	{Err: transfer.ErrMismatch, Code: connect.CodeDataLoss},
}

// connectError maps an error of the transfer service to its status code; it
// is the only place that does, under the policy every edge shares
// (rpcserver.ConnectError). Errors that already carry a code (from the
// stream itself) keep it; anything unexpected (a read or write error, which
// names files by their absolute path) is logged with a request id and
// reaches the caller as a bare Internal error.
func (h *Handler) connectError(ctx context.Context, procedure string, err error) error {
	return rpcserver.ConnectError(ctx, h.log, procedure, codes, err)
}
