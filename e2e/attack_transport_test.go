package e2e_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// userTokens logs user in at the directory and returns its download and
// upload tokens for peer, as a client asks for them before a transfer.
func userTokens(t *testing.T, n *testnet.Network, user, peer string) (download, upload string) {
	t.Helper()
	s := loggedIn(t, session.Config{Directory: n.DirectoryURL, Username: user, Password: testnet.Password})
	return transferToken(t, s, directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, peer).Get(),
		transferToken(t, s, directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD, peer).Get()
}

// grpcCall is the header of a gRPC call with token tok.
func grpcCall(tok string) http.Header {
	h := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return h
}

// grpcBody is msg as one gRPC message.
func grpcBody(t *testing.T, msg proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.GRPCMessage(b)
}

// metric returns the value of the sample of /metrics at base whose line
// starts with series (a name and, if any, its labels as Prometheus writes
// them: sorted, quoted), or 0 if there is none yet.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	return testutil.Counter(t, base+"/metrics", series)
}

// refused counts a peer's calls of procedure refused with ResourceExhausted.
func refused(t *testing.T, base, procedure string) int {
	return int(metric(t, base, `peerhub_rpc_requests_total{code="resource_exhausted",procedure="`+procedure+`"}`))
}

// transfers returns how many transfers a peer runs and queues.
func transfers(t *testing.T, base string) (running, waiting int) {
	return int(metric(t, base, "peerhub_peer_transfers_running")), int(metric(t, base, "peerhub_peer_transfers_waiting"))
}

// stallAttack opens, from mallory's account, 24 downloads of name that it
// never reads (it grants them no flow-control window) and 24 uploads that
// send their header and then nothing, on two raw HTTP/2 connections to p.
// It returns once the peer has decided on each: running, queued or
// refused.
func stallAttack(t *testing.T, p *testnet.Peer, down, up, name string) (downloads, uploads []uint32, conns [2]*testutil.H2Conn) {
	t.Helper()
	addr := strings.TrimPrefix(p.URL, "http://")
	conns = [2]*testutil.H2Conn{testutil.DialH2(t, addr, 64<<10), testutil.DialH2(t, addr, 64<<10)}
	for range 24 {
		downloads = append(downloads, conns[0].Open("POST", peerv1connect.PeerServiceDownloadProcedure, grpcCall(down),
			grpcBody(t, &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: name}}), true, false))
	}
	junk := testutil.RandBytes(1<<20, 99)
	for i := range 24 {
		hdr := &peerv1.UploadHeader{Name: fmt.Sprintf("junk-%02d.bin", i), Size: int64(len(junk)), Sha256: testutil.SHA256Hex(junk)}
		uploads = append(uploads, conns[1].Open("POST", peerv1connect.PeerServiceUploadProcedure, grpcCall(up),
			grpcBody(t, &peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: hdr}}), false, true))
	}
	testutil.Eventually(t, 0, "the peer decided on all 48 stalled transfers", func() error {
		running, waiting := transfers(t, p.URL)
		no := refused(t, p.URL, peerv1connect.PeerServiceDownloadProcedure) + refused(t, p.URL, peerv1connect.PeerServiceUploadProcedure)
		// With a short stall timeout on a loaded machine, a stream that
		// held a slot may already have been ended for stalling.
		ended := int(metric(t, p.URL, `peerhub_rpc_stalls_total{direction="read"}`) + metric(t, p.URL, `peerhub_rpc_stalls_total{direction="write"}`))
		if running+waiting+no+ended != 48 {
			return fmt.Errorf("%d running, %d waiting, %d refused, %d ended for stalling", running, waiting, no, ended)
		}
		return nil
	})
	return downloads, uploads, conns
}

// TestAttackStalledTransfers is the greedy, stalling client: one account
// opens 24 downloads it never reads and 24 uploads it never finishes. The
// peer caps the account (4 running or waiting, the rest refused at once,
// naming the cap), so another account's download starts at once and
// completes in bounded time while the stalled streams still hold their
// slots.
func TestAttackStalledTransfers(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "mallory"}})
	data := testutil.RandBytes(8<<20, 41)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"big.bin": data}, AcceptUploads: true})
	evilDown, evilUp := userTokens(t, n, "mallory", "p1")
	honest, _ := userTokens(t, n, "alice", "p1")

	downloads, _, conns := stallAttack(t, p1, evilDown, evilUp, "big.bin")
	running, waiting := transfers(t, p1.URL)
	t.Logf("mallory's 48 stalled transfers: %d running, %d waiting, the rest refused", running, waiting)
	if running+waiting > 4 {
		t.Errorf("one account holds %d running and %d waiting transfers, want at most 4 together", running, waiting)
	}
	for i, id := range downloads {
		if s := conns[0].Stream(id); s.Done() && !strings.Contains(s.Header.Get("Grpc-Message"), "mallory") {
			t.Errorf("download %d refused without naming the account's cap: %v %q", i, s, s.Header.Get("Grpc-Message"))
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	var tok rpcclient.Token
	tok.Set(honest)
	client := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), p1.URL, rpcclient.Options(&tok, rpcclient.NoCompression())...)
	stream, err := client.Download(ctx, connect.NewRequest(&peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: "big.bin"}}))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for stream.Receive() {
		h.Write(stream.Msg().GetData())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("alice's download while mallory stalls: %v", err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Fatal("alice's download: wrong content")
	}
	t.Logf("alice downloaded %d MiB in %v beside mallory's stalled streams", len(data)>>20, time.Since(start))
	if r, _ := transfers(t, p1.URL); r < running {
		t.Errorf("mallory's streams ended before alice's download did (%d running, were %d): the test proves nothing", r, running)
	}
}

// TestAttackStalledTransfersEnd is the stalling client again, at a peer
// with a short stall timeout: the streams that got a slot are ended once
// they move nothing for that long, their slots come back, and the peer
// counts the stalls.
func TestAttackStalledTransfersEnd(t *testing.T) {
	t.Parallel()
	const stall = 2 * time.Second
	n := testnet.Start(t, testnet.Options{Users: []string{"mallory"}})
	data := testutil.RandBytes(8<<20, 42)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"big.bin": data}, AcceptUploads: true, StallTimeout: stall})
	evilDown, evilUp := userTokens(t, n, "mallory", "p1")

	start := time.Now()
	downloads, uploads, conns := stallAttack(t, p1, evilDown, evilUp, "big.bin")
	held, _ := transfers(t, p1.URL)
	if held == 0 {
		t.Fatal("no stalled transfer got a slot: nothing to end")
	}
	testutil.Eventually(t, 0, "the stalled transfers ended", func() error {
		if r, w := transfers(t, p1.URL); r+w > 0 {
			return fmt.Errorf("%d running, %d waiting", r, w)
		}
		return nil
	})
	if took := time.Since(start); took < stall {
		t.Errorf("stalled transfers ended after %v, before the stall timeout %v", took, stall)
	}
	for _, id := range downloads {
		if s, err := conns[0].Wait(t.Context(), id, testutil.H2Stream.Done); err != nil {
			t.Errorf("stalled download never ended: %v (%v)", err, s)
		}
	}
	for _, id := range uploads {
		if s, err := conns[1].Wait(t.Context(), id, testutil.H2Stream.Done); err != nil {
			t.Errorf("stalled upload never ended: %v (%v)", err, s)
		}
	}
	stalls := metric(t, p1.URL, `peerhub_rpc_stalls_total{direction="read"}`) + metric(t, p1.URL, `peerhub_rpc_stalls_total{direction="write"}`)
	if int(stalls) < held {
		t.Errorf("the peer counted %v stalls, want at least the %d stalled transfers that held a slot", stalls, held)
	}
}

// TestAttackBodiesBeforeAuth sends, without a token, requests whose bodies
// are never sent (the request side stays open): the directory and the peer
// answer Unauthenticated from the headers alone, in the caller's protocol,
// for methods that take megabytes (Publish, Upload) and over REST. A gzip
// bomb sent in full gets the same answer, uninflated.
func TestAttackBodiesBeforeAuth(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	p1 := n.AddPeer("p1", testnet.PeerOptions{AcceptUploads: true})
	publish := "/" + directoryv1connect.DirectoryServiceName + "/Publish"
	for _, target := range []struct {
		name, url, path string
		header          http.Header
		// status is the HTTP status; grpc the grpc-status header, if
		// any; body a part of the body, if any.
		status, grpc, body string
	}{
		{"directory Connect", n.DirectoryURL, publish, http.Header{"Content-Type": {"application/proto"}, "Content-Encoding": {"gzip"}}, "401", "", `"unauthenticated"`},
		{"directory gRPC", n.DirectoryURL, publish, grpcCall(""), "200", "16", ""},
		{"directory gRPC-Web", n.DirectoryURL, publish, http.Header{"Content-Type": {"application/grpc-web+proto"}}, "200", "16", ""},
		{"directory REST", n.DirectoryURL, "/v1/publish", http.Header{"Content-Type": {"application/json"}}, "401", "", `"code":"unauthenticated"`},
		{"peer gRPC", p1.URL, peerv1connect.PeerServiceUploadProcedure, grpcCall(""), "200", "16", ""},
		{"peer gRPC unary", p1.URL, peerv1connect.PeerServiceStatProcedure, grpcCall(""), "200", "16", ""},
		{"peer Connect unary", p1.URL, peerv1connect.PeerServiceStatProcedure, http.Header{"Content-Type": {"application/proto"}}, "401", "", `"unauthenticated"`},
		{"peer Connect", p1.URL, peerv1connect.PeerServiceUploadProcedure, http.Header{"Content-Type": {"application/connect+proto"}}, "200", "", `"unauthenticated"`},
	} {
		t.Run(target.name, func(t *testing.T) {
			c := testutil.DialH2(t, strings.TrimPrefix(target.url, "http://"), 64<<10)
			id := c.Open("POST", target.path, target.header, nil, false, true)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			s, err := c.Wait(ctx, id, func(s testutil.H2Stream) bool { return s.Status != "" })
			if err != nil {
				t.Fatalf("no answer while the body is withheld: %v (%v)", err, s)
			}
			s, _ = c.Wait(ctx, id, testutil.H2Stream.Done)
			if s.Status != target.status || s.Header.Get("Grpc-Status") != target.grpc || !bytes.Contains(s.Body, []byte(target.body)) {
				t.Errorf("answer %v %q, want HTTP %s, grpc-status %q, a body with %s", s, s.Body, target.status, target.grpc, target.body)
			}
		})
	}

	// A gzip bomb, sent whole: refused before it is read, let alone
	// inflated, as fast as a refusal of an empty body.
	bomb := testutil.GzipBomb(t, 8<<30) // about 8 MiB, inflating to 8 GiB
	for _, target := range []struct{ name, url, ctype string }{
		{"directory Publish", n.DirectoryURL + publish, "application/proto"},
		{"directory REST publish", n.DirectoryURL + "/v1/publish", "application/json"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", target.url, bytes.NewReader(bomb))
		req.Header.Set("Content-Type", target.ctype)
		req.Header.Set("Content-Encoding", "gzip")
		start := time.Now()
		res, err := rpcclient.NewHTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		took := time.Since(start)
		t.Logf("%s, %d-byte gzip bomb without a token: HTTP %d in %v", target.name, len(bomb), res.StatusCode, took)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d %s, want 401", target.name, res.StatusCode, body)
		}
	}
}

// TestAttackOversizeBodies sends what the directory reads after checking
// the token or without one, but past what a method needs: a Login of 64
// KiB, a Login that inflates to 1 MiB, and (as a logged-in peer) a Publish
// gzip bomb within the Publish limit that inflates to gigabytes. Each is
// ResourceExhausted, and the bomb costs the directory a small fraction of
// the CPU that inflating it takes: gzip stops one byte past the limit. It
// is not parallel, so the process's CPU time is the directory's.
func TestAttackOversizeBodies(t *testing.T) {
	n := testnet.Start(t, testnet.Options{})
	hc := rpcclient.NewHTTPClient()
	dir := directoryv1connect.NewDirectoryServiceClient(hc, n.DirectoryURL, rpcclient.Options(new(rpcclient.Token), rpcclient.NoCompression())...)
	_, err := dir.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "alice", Password: strings.Repeat("p", 64<<10)}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("Login of 64 KiB: %v, want ResourceExhausted", err)
	}

	post := func(path, tok string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", n.DirectoryURL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Content-Encoding", "gzip")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}
	if status, out := post("/"+directoryv1connect.DirectoryServiceName+"/Login", "", testutil.GzipBomb(t, 1<<20)); status != http.StatusTooManyRequests {
		t.Errorf("Login inflating to 1 MiB: HTTP %d %s, want 429 (ResourceExhausted)", status, out)
	}

	bomb := testutil.GzipBomb(t, 12<<30) // about 12 MiB, within Publish's limit, inflating to 12 GiB
	// Inflating a 48th of the bomb measures the cost of all of it.
	start := testutil.CPUTime(t)
	zr, _ := gzip.NewReader(bytes.NewReader(bomb[:len(bomb)/48]))
	inflated, _ := io.Copy(io.Discard, zr)
	inflateCost := 48 * (testutil.CPUTime(t) - start)
	t.Logf("the bomb: %d bytes inflating to %d; inflating it takes about %v of CPU", len(bomb), 48*inflated, inflateCost)
	// A peer's session, used at once: it lives three heartbeats (3s).
	login, err := dir.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "alice", Password: testnet.Password, AdvertiseAddress: "http://127.0.0.1:9", PeerName: "bomber"}))
	if err != nil {
		t.Fatal(err)
	}
	start = testutil.CPUTime(t)
	status, out := post("/"+directoryv1connect.DirectoryServiceName+"/Publish", login.Msg.GetToken(), bomb)
	cost := testutil.CPUTime(t) - start
	var ce struct{ Code string }
	_ = json.Unmarshal(out, &ce)
	t.Logf("Publish gzip bomb: HTTP %d %s in %v of CPU", status, ce.Code, cost)
	if status != http.StatusTooManyRequests {
		t.Errorf("Publish gzip bomb: HTTP %d %s, want 429 (ResourceExhausted)", status, out)
	}
	if cost > inflateCost/10 {
		t.Errorf("the directory spent %v of CPU on the bomb, more than a tenth of inflating it (%v)", cost, inflateCost)
	}
}
