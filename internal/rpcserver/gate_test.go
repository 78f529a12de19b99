package rpcserver_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestGateRefusesBeforeBody sends calls that need a token without one (or
// with a forged one) and without their body: the request side stays open
// and not one byte of body is sent. The refusal must come anyway, in the
// caller's protocol, without the implementation running: the gate answered
// from the headers alone.
func TestGateRefusesBeforeBody(t *testing.T) {
	t.Parallel()
	f := serve(t, rpcserver.Options{}, nil)
	forged := testutil.NewIssuer(t).Token(t, time.Now())
	publish := "/" + directoryv1connect.DirectoryServiceName + "/Publish"
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	unauthenticatedJSON := func(t *testing.T, s testutil.H2Stream) {
		var body struct{ Code string }
		if err := json.Unmarshal(s.Body, &body); err != nil || s.Status != "401" || body.Code != "unauthenticated" {
			t.Errorf("HTTP %s %q, want 401 unauthenticated", s.Status, s.Body)
		}
	}
	grpcStatus := func(t *testing.T, s testutil.H2Stream) {
		if s.Status != "200" || s.Header.Get("grpc-status") != "16" {
			t.Errorf("HTTP %s grpc-status %q, want 200 and 16 (unauthenticated)", s.Status, s.Header.Get("grpc-status"))
		}
	}
	cases := []struct {
		name, method, path string
		header             http.Header
		check              func(*testing.T, testutil.H2Stream)
	}{
		{"connect proto", "POST", publish, hdr("Content-Type", "application/proto", "Connect-Protocol-Version", "1"), unauthenticatedJSON},
		{"connect json", "POST", publish, hdr("Content-Type", "application/json", "Connect-Protocol-Version", "1"), unauthenticatedJSON},
		{"connect gzip", "POST", publish, hdr("Content-Type", "application/proto", "Content-Encoding", "gzip"), unauthenticatedJSON},
		{"connect forged token", "POST", publish, hdr("Content-Type", "application/proto", "Authorization", "Bearer "+forged), unauthenticatedJSON},
		{"connect stream", "POST", peerv1connect.PeerServiceUploadProcedure, hdr("Content-Type", "application/connect+proto"), func(t *testing.T, s testutil.H2Stream) {
			if s.Status != "200" || !bytes.Contains(s.Body, []byte(`"unauthenticated"`)) {
				t.Errorf("HTTP %s %q, want an end-of-stream message with unauthenticated", s.Status, s.Body)
			}
		}},
		{"grpc", "POST", publish, hdr("Content-Type", "application/grpc", "TE", "trailers", "Grpc-Encoding", "gzip"), grpcStatus},
		{"grpc stream", "POST", peerv1connect.PeerServiceUploadProcedure, hdr("Content-Type", "application/grpc", "TE", "trailers"), grpcStatus},
		{"grpc-web", "POST", publish, hdr("Content-Type", "application/grpc-web+proto"), grpcStatus},
		{"REST", "POST", "/v1/publish", hdr("Content-Type", "application/json", "Content-Encoding", "gzip"), func(t *testing.T, s testutil.H2Stream) {
			// REST errors carry Connect's code strings (RESTErrors).
			var body struct{ Code string }
			if err := json.Unmarshal(s.Body, &body); err != nil || s.Status != "401" || body.Code != connect.CodeUnauthenticated.String() {
				t.Errorf("HTTP %s %q, want 401 and code %q", s.Status, s.Body, connect.CodeUnauthenticated)
			}
		}},
		{"REST GET", "GET", "/v1/search?query=abc", hdr(), func(t *testing.T, s testutil.H2Stream) {
			if s.Status != "401" {
				t.Errorf("HTTP %s %q, want 401", s.Status, s.Body)
			}
		}},
	}
	c := testutil.DialH2(t, f.addr, 1<<20)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := c.Open(tc.method, tc.path, tc.header, nil, false, true)
			s, err := c.Wait(t.Context(), id, testutil.H2Stream.Done)
			if err != nil {
				t.Fatalf("no answer without a body: %v (so far: %v)", err, s)
			}
			tc.check(t, s)
		})
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d refused calls reached the implementation", n)
	}
}

// TestGateAdmits checks that what the gate lets through works on every
// path: public procedures without a token, the others with one, over
// Connect, gRPC and REST, with the claims in the context and the token
// verified once (by the gate, not again by the interceptor).
func TestGateAdmits(t *testing.T) {
	t.Parallel()
	f := serve(t, rpcserver.Options{}, nil)
	hc := rpcclient.NewHTTPClient()
	var tok rpcclient.Token
	tok.Set(f.valid)
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc": {connect.WithGRPC()}, "grpc-web": {connect.WithGRPCWeb()}} {
		client := directoryv1connect.NewDirectoryServiceClient(hc, f.url, rpcclient.Options(&tok, opts...)...)
		if _, err := client.GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{})); err != nil {
			t.Errorf("%s GetInfo: %v", name, err)
		}
		before := f.verified.Load()
		res, err := client.Publish(t.Context(), connect.NewRequest(snapshot(3, 10)))
		if err != nil || res.Msg.GetFileCount() != 3 {
			t.Errorf("%s Publish: %v %v", name, res, err)
		}
		if n := f.verified.Load() - before; n != 1 {
			t.Errorf("%s Publish: the token was verified %d times, want once", name, n)
		}
	}
	for _, r := range []struct {
		method, path, body, tok string
	}{
		{"GET", "/v1/info", "", ""},
		{"POST", "/v1/login", `{"username":"a","password":"b"}`, ""},
		{"GET", "/v1/search?query=abc", "", f.valid},
		{"POST", "/v1/publish", `{"snapshot":{"files":[]}}`, f.valid},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), r.method, f.url+r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		if r.tok != "" {
			req.Header.Set("Authorization", "Bearer "+r.tok)
		}
		before := f.verified.Load()
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("REST %s %s: HTTP %d %s", r.method, r.path, res.StatusCode, body)
		}
		if n, want := f.verified.Load()-before, int64(min(len(r.tok), 1)); n != want {
			t.Errorf("REST %s %s: the token was verified %d times, want %d", r.method, r.path, n, want)
		}
	}
}

// TestGateReadLimits checks each procedure's own limit: Login (no token
// needed) refuses a body past its few KiB, Publish takes up to its limit,
// and an Upload stream is bounded per message, not in total.
func TestGateReadLimits(t *testing.T) {
	t.Parallel()
	f := serve(t, rpcserver.Options{}, nil)
	hc := rpcclient.NewHTTPClient()
	var tok rpcclient.Token
	tok.Set(f.valid)
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc": {connect.WithGRPC()}, "json": {connect.WithProtoJSON()}} {
		client := directoryv1connect.NewDirectoryServiceClient(hc, f.url, rpcclient.Options(&tok, append(opts, rpcclient.NoCompression())...)...)
		_, err := client.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "a", Password: strings.Repeat("p", loginLimit)}))
		if codeOf(t, err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "8192") {
			t.Errorf("%s: Login of %d bytes: %v, want ResourceExhausted naming the limit", name, loginLimit, err)
		}
		if _, err := client.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "a", Password: strings.Repeat("p", 72)})); err != nil {
			t.Errorf("%s: Login with the longest password: %v", name, err)
		}
		if _, err := client.Publish(t.Context(), connect.NewRequest(snapshot(500, 1000))); err != nil {
			t.Errorf("%s: Publish under its limit: %v", name, err)
		}
		_, err = client.Publish(t.Context(), connect.NewRequest(snapshot(1000, 1000)))
		if codeOf(t, err) != connect.CodeResourceExhausted {
			t.Errorf("%s: Publish past its limit: %v, want ResourceExhausted", name, err)
		}
	}
	// Health and reflection need no token: their requests are small too.
	health := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), strings.Repeat("s", 2*rpcserver.DefaultReadLimit))
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.url+"/grpc.health.v1.Health/Check", bytes.NewReader(health))
	req.Header.Set("Content-Type", "application/proto")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("health check of %d bytes: HTTP %d, want 429 (ResourceExhausted)", len(health), res.StatusCode)
	}

	// REST: the same limit, before vanguard buffers the body.
	req, _ = http.NewRequestWithContext(t.Context(), "POST", f.url+"/v1/login", strings.NewReader(`{"username":"a","password":"`+strings.Repeat("p", loginLimit)+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("REST login past its limit: HTTP %d, want 429 (ResourceExhausted)", res.StatusCode)
	}
}

// snapshot is a Publish of n valid files with names of nameLen bytes.
func snapshot(n, nameLen int) *directoryv1.PublishRequest {
	files := make([]*directoryv1.FileEntry, n)
	for i := range files {
		// Folders of 200 bytes: a name segment may have at most 255.
		name := []byte(fmt.Sprintf("%0*d", nameLen, i))
		for j := 200; j < len(name)-1; j += 201 {
			name[j] = '/'
		}
		files[i] = &directoryv1.FileEntry{
			Name: string(name), Size: 1, Sha256: strings.Repeat("a", 64),
			PieceSize: 1 << 20, PieceRoot: strings.Repeat("b", 64),
		}
	}
	return &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Snapshot{Snapshot: &directoryv1.Snapshot{Files: files}}}
}

// TestGateGzipBomb sends gzip bombs: small bodies that inflate far past a
// procedure's limit. Without a token the gate refuses them unread; with one,
// connect inflates one byte past the limit and stops. Either way the server
// spends a small fraction of the CPU that inflating the bomb takes, which
// the test measures first. It is not parallel, so the process's CPU time is
// the server's.
func TestGateGzipBomb(t *testing.T) {
	f := serve(t, rpcserver.Options{}, nil)
	hc := rpcclient.NewHTTPClient()
	bomb := testutil.GzipBomb(t, 900<<20) // about 1 MB, inflating to 900 MiB
	if int64(len(bomb)) > int64(publishLimit) {
		t.Fatalf("bomb of %d bytes is over the Publish limit: it would be refused unread", len(bomb))
	}
	start := testutil.CPUTime(t)
	zr, _ := gzip.NewReader(bytes.NewReader(bomb))
	inflated, err := io.Copy(io.Discard, zr)
	if err != nil {
		t.Fatal(err)
	}
	inflateCost := testutil.CPUTime(t) - start
	t.Logf("the bomb: %d bytes inflating to %d; inflating it takes %v of CPU", len(bomb), inflated, inflateCost)

	send := func(path, tok, ctype string, body []byte) (int, []byte, time.Duration) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", f.url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Content-Encoding", "gzip")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		start := testutil.CPUTime(t)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out, testutil.CPUTime(t) - start
	}
	for _, c := range []struct {
		name, path, tok, ctype string
		status                 int
	}{
		{"Publish without a token", "/" + directoryv1connect.DirectoryServiceName + "/Publish", "", "application/proto", http.StatusUnauthorized},
		{"Publish", "/" + directoryv1connect.DirectoryServiceName + "/Publish", f.valid, "application/proto", http.StatusTooManyRequests},
		{"REST Publish", "/v1/publish", f.valid, "application/json", http.StatusTooManyRequests},
		{"REST Publish without a token", "/v1/publish", "", "application/json", http.StatusUnauthorized},
	} {
		status, body, cost := send(c.path, c.tok, c.ctype, bomb)
		t.Logf("%s: HTTP %d in %v of CPU: %s", c.name, status, cost, body)
		if status != c.status {
			t.Errorf("%s: HTTP %d %s, want %d", c.name, status, body, c.status)
		}
		if cost > inflateCost/4 {
			t.Errorf("%s: the server spent %v of CPU, more than a quarter of inflating the bomb (%v)", c.name, cost, inflateCost)
		}
	}
	// Login needs no token; its small limit cuts the compressed body too.
	small := testutil.GzipBomb(t, 1<<20) // about 1 KiB, inflating to 1 MiB
	var login bytes.Buffer
	zw := gzip.NewWriter(&login)
	msg, _ := proto.Marshal(&directoryv1.LoginRequest{Username: "a", Password: "b"})
	zw.Write(msg)
	zw.Close()
	for name, body := range map[string][]byte{"bomb": small, "bomb after a valid message": append(login.Bytes(), small...)} {
		status, out, _ := send("/"+directoryv1connect.DirectoryServiceName+"/Login", "", "application/proto", body)
		if status != http.StatusTooManyRequests {
			t.Errorf("Login, %s: HTTP %d %s, want 429 (ResourceExhausted)", name, status, out)
		}
	}
	if status, out, _ := send("/"+directoryv1connect.DirectoryServiceName+"/Login", "", "application/proto", login.Bytes()); status != http.StatusOK {
		t.Errorf("gzip Login: HTTP %d %s", status, out)
	}
}
