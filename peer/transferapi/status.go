package transferapi

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/peer/transfer"
)

// directions maps the service's transfer directions to the protocol's.
var directions = map[transfer.Direction]peerv1.TransferDirection{
	transfer.Sending:   peerv1.TransferDirection_TRANSFER_DIRECTION_DOWNLOAD,
	transfer.Receiving: peerv1.TransferDirection_TRANSFER_DIRECTION_UPLOAD,
}

// Status implements peerv1connect.PeerServiceHandler. Who may call it is
// the auth gate's business (the peer accepts only a status token).
func (h *Handler) Status(_ context.Context, _ *connect.Request[peerv1.StatusRequest]) (*connect.Response[peerv1.StatusResponse], error) {
	st := h.svc.Status()
	l := st.Limits
	res := &peerv1.StatusResponse{
		Waiting: int32(st.Waiting),
		Limits: &peerv1.Limits{
			MaxTransfers:   int32(l.MaxTransfers),
			MaxQueue:       int32(l.MaxQueue),
			MaxPerAccount:  int32(l.MaxPerAccount),
			MaxPerAddress:  int32(l.MaxPerAddress),
			MaxRate:        l.MaxRate,
			AcceptUploads:  l.AcceptUploads,
			MaxUploadSize:  l.MaxUploadSize,
			MaxUploadTotal: l.MaxUploadTotal,
			UploadTotal:    st.UploadTotal,
		},
		Transfers: make([]*peerv1.Transfer, len(st.Transfers)),
		Uploads:   make([]*peerv1.ReceivedUpload, len(st.Uploads)),
	}
	for i, p := range st.Transfers {
		res.Transfers[i] = &peerv1.Transfer{
			Direction: directions[p.Direction],
			Name:      p.Name,
			Sha256:    p.SHA256,
			Account:   p.Caller.Account,
			Address:   p.Caller.Address,
			BytesDone: p.Done,
			Size:      p.Size,
			Rate:      p.Rate,
			Started:   timestamppb.New(p.Started),
		}
	}
	for i, u := range st.Uploads {
		res.Uploads[i] = &peerv1.ReceivedUpload{Name: u.Name, Size: u.Size, Sha256: u.SHA256, Account: u.Account, Received: timestamppb.New(u.At)}
	}
	return connect.NewResponse(res), nil
}
