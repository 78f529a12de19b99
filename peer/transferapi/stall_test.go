package transferapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// grpcHeader is what a gRPC client sends with token tok.
func grpcHeader(tok string) http.Header {
	return http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}, "Authorization": {"Bearer " + tok}}
}

// grpcBody is msg as the body of a gRPC request.
func grpcBody(t testing.TB, msg proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.GRPCMessage(b)
}

// waitLoad waits until the service runs running transfers and queues
// waiting.
func waitLoad(t *testing.T, e *env, running, waiting int) {
	t.Helper()
	testutil.Eventually(t, 0, fmt.Sprintf("%d transfers running, %d waiting", running, waiting), func() error {
		if r, w := e.svc.Load(); r != running || w != waiting {
			return fmt.Errorf("%d running, %d waiting", r, w)
		}
		return nil
	})
}

// TestStalledTransfersEnd holds a peer's transfer slots with a raw HTTP/2
// client that stops reading its downloads (it grants no window) and stops
// sending its upload after the header: the caps refuse its next transfer
// with the cap in the message, and once the stall timeout passes the
// server ends the stalled streams, frees their slots, and serves the next
// download in full.
func TestStalledTransfersEnd(t *testing.T) {
	t.Parallel()
	const stall = time.Second
	data := testutil.RandBytes(2<<20, 31)
	e := newEnv(t, transfer.Options{MaxTransfers: 8, MaxPerAccount: 3, MaxPerAddress: -1, ChunkSize: transfer.MinChunkSize, AcceptUploads: true},
		map[string][]byte{"f": data},
		func(o *rpcserver.Options) { o.StallTimeout = stall })
	c := testutil.DialH2(t, e.addr, 64<<10)
	start := time.Now()
	var downloads []uint32
	for range 2 {
		downloads = append(downloads, c.Open("POST", peerv1connect.PeerServiceDownloadProcedure, grpcHeader(e.tokens.valid), grpcBody(t, dlByName("f")), true, false))
	}
	upload := c.Open("POST", peerv1connect.PeerServiceUploadProcedure, grpcHeader(e.tokens.valid),
		grpcBody(t, &peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: header("new.bin", data)}}), false, true)
	waitLoad(t, e, 3, 0)

	// The account has its three: a fourth transfer is refused at once.
	_, err := downloadAll(t.Context(), connectCaller{e.client(e.tokens.valid)}, dlByName("f"))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), `account "tester"`) || !strings.Contains(err.Error(), "3") {
		t.Errorf("a fourth transfer of one account: %v, want ResourceExhausted naming the account and its cap", err)
	}

	// The stalled streams end after the stall timeout, not before.
	for _, id := range downloads {
		s, err := c.Wait(t.Context(), id, testutil.H2Stream.Done)
		if err != nil || !s.WasReset {
			t.Errorf("stalled download: %v (%v), want it reset", err, s)
		}
	}
	s, err := c.Wait(t.Context(), upload, testutil.H2Stream.Done)
	if err != nil || s.Header.Get("Grpc-Status") != fmt.Sprint(int(connect.CodeDeadlineExceeded)) {
		t.Errorf("stalled upload: %v (%v), want grpc-status DeadlineExceeded", err, s)
	}
	if took := time.Since(start); took < stall {
		t.Errorf("stalled streams ended after %v, before the stall timeout %v", took, stall)
	}
	waitLoad(t, e, 0, 0)
	if names := incoming(t, e.dir); len(names) > 0 {
		t.Errorf("the stalled upload left %v", names)
	}
	got, err := downloadAll(t.Context(), connectCaller{e.client(e.tokens.valid)}, dlByName("f"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("download after the stalls: %v", err)
	}
}

// TestAddressCap checks the per-address cap over the wire: the caller's
// address is the connection's, whatever account its token names.
func TestAddressCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, transfer.Options{MaxTransfers: 8, MaxPerAccount: -1, MaxPerAddress: 1, ChunkSize: transfer.MinChunkSize},
		map[string][]byte{"f": testutil.RandBytes(1<<20, 32)})
	c := testutil.DialH2(t, e.addr, 64<<10)
	c.Open("POST", peerv1connect.PeerServiceDownloadProcedure, grpcHeader(e.tokens.valid), grpcBody(t, dlByName("f")), true, false)
	waitLoad(t, e, 1, 0)
	for name, caller := range e.callers(e.tokens.valid) {
		_, err := downloadAll(t.Context(), caller, dlByName("f"))
		if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "address 127.0.0.1") {
			t.Errorf("%s: a second transfer from one address: %v, want ResourceExhausted naming the address", name, err)
		}
	}
}
