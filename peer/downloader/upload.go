package downloader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/sharepath"
)

// UploadChunkSize is the size of the chunks Upload sends, in bytes.
const UploadChunkSize = 1 << 20

// UploadOptions configure Upload.
type UploadOptions struct {
	// Name is the name to store the file under at the peer (a relative
	// slash-separated path, see sharepath.Check); the local file's base
	// name if empty.
	Name string
	// Token is sent as the bearer token.
	Token *rpcclient.Token
	// HTTPClient carries the call; if nil, a client that accepts only Pin
	// at an https:// address (rpcclient.PeerClients).
	HTTPClient *http.Client
	// Pin is the peer's TLS identity, as the directory vouches for it
	// (PeerInfo.pin); required for an https:// address.
	Pin identity.Pin
	// ClientOptions are added to the PeerService client (tests).
	ClientOptions []connect.ClientOption
	// Progress, if set, is called after each chunk with the bytes sent so
	// far and the file's size.
	Progress func(sent, total int64)
}

// Upload sends the local file at path to the peer whose PeerService is at
// address, under o.Name (in NFC; a name that is not portable is refused
// before anything is sent, wrapping sharepath.ErrInvalid): it hashes the
// file first (the header carries its size and
// SHA-256), then streams it in chunks of UploadChunkSize. The peer stores
// it only once all of it arrived and matches the header; on any failure it
// keeps nothing.
// Errors: the peer's (a *connect.Error: PermissionDenied when it accepts no
// uploads, AlreadyExists when the name is taken, ResourceExhausted when the
// file is too large, DataLoss when the file changed while being sent), or
// a local I/O error.
func Upload(ctx context.Context, address, path string, o UploadOptions) (*peerv1.UploadResponse, error) {
	name := o.Name
	if name == "" {
		name = filepath.Base(path)
	}
	// Names are NFC (sharepath.Check); a name typed in another form is
	// the same name.
	name = sharepath.Normalize(name)
	if err := sharepath.Check(name); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("upload %s: not a regular file", path)
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("upload: hash %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if o.Token == nil {
		o.Token = new(rpcclient.Token)
	}
	hc := o.HTTPClient
	if hc == nil {
		peers := rpcclient.NewPeerClients(nil)
		defer peers.CloseIdleConnections()
		if hc, err = peers.For(address, o.Pin); err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
	}
	client := peerv1connect.NewPeerServiceClient(hc, address, rpcclient.Options(o.Token, o.ClientOptions...)...)

	stream := client.Upload(ctx)
	header := &peerv1.UploadHeader{Name: name, Size: size, Sha256: hex.EncodeToString(h.Sum(nil))}
	sendErr := stream.Send(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: header}})
	buf := make([]byte, UploadChunkSize)
	chunk := &peerv1.UploadRequest_Chunk{}
	msg := &peerv1.UploadRequest{Part: chunk}
	var sent int64
	for sendErr == nil {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			// Send encodes the message before returning, so buf can be
			// reused for the next chunk.
			chunk.Chunk = buf[:n]
			if sendErr = stream.Send(msg); sendErr != nil {
				break
			}
			sent += int64(n)
			if o.Progress != nil {
				o.Progress(sent, size)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			// Closing without sending the rest makes the peer see a
			// short upload, which it discards.
			stream.CloseAndReceive()
			return nil, fmt.Errorf("upload: read %s: %w", path, rerr)
		}
	}
	// A failed Send (io.EOF) means the peer answered early; its answer,
	// the real error, comes from CloseAndReceive.
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", name, address, err)
	}
	if sendErr != nil && !errors.Is(sendErr, io.EOF) {
		return nil, fmt.Errorf("upload %s to %s: %w", name, address, sendErr)
	}
	return res.Msg, nil
}
