package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// fileLink asks the directory for a download link of content sha at peer,
// saved as name.
func fileLink(t *testing.T, s *session.Session, peer, sha, name string) string {
	t.Helper()
	res, err := s.Client().IssueToken(t.Context(), connect.NewRequest(&directoryv1.IssueTokenRequest{
		Scope: directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, Peer: peer, Sha256: sha, Name: name,
	}))
	if err != nil {
		t.Fatalf("link for %s at %s: %v", sha, peer, err)
	}
	if res.Msg.GetLink() == "" {
		t.Fatal("IssueToken with sha256 returned no link")
	}
	return res.Msg.GetLink()
}

// httpGet fetches u with extra headers and returns the status, headers and
// body.
func httpGet(t *testing.T, u string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}

// run runs a command line tool and fails the test with its output if it
// fails.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// tool returns the path of a command line tool the test needs.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testutil.Missing(t, "%s is not installed (.ci/run installs it)", name)
	}
	return p
}

// TestFileLinks downloads shared files from a peer over plain HTTP with
// links the directory issues: curl -O gets the exact bytes, an interrupted
// download resumes with curl -C - and with wget -c, and the response has
// the headers browsers and download tools use (ETag, Accept-Ranges,
// Content-Range, Content-Disposition with an RFC 5987 name, If-Range).
func TestFileLinks(t *testing.T) {
	t.Parallel()
	curl := tool(t, "curl")
	n := testnet.Start(t, testnet.Options{})
	big := testutil.RandBytes(3<<20+12345, 21)
	small := []byte("a small file\n")
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"big.bin": big, "docs/Ünïcode ñame.txt": small}})
	s := clientSession(t, n)
	waitFound(t, s, "big.bin", "p1")
	bigSHA, smallSHA := testutil.SHA256Hex(big), testutil.SHA256Hex(small)

	t.Run("curl -O", func(t *testing.T) {
		dir := t.TempDir()
		run(t, dir, curl, "-sS", "--fail-with-body", "-O", fileLink(t, s, "p1", bigSHA, "big.bin"))
		if got := testutil.FileSHA256(t, filepath.Join(dir, "big.bin")); got != bigSHA {
			t.Errorf("curl -O saved sha256 %s, want %s", got, bigSHA)
		}
	})

	t.Run("curl -C - resumes", func(t *testing.T) {
		dir := t.TempDir()
		link := fileLink(t, s, "p1", bigSHA, "big.bin")
		// The first 1 MiB, as an interrupted download leaves it.
		run(t, dir, curl, "-sS", "--fail-with-body", "-r", "0-1048575", "-o", "big.bin", link)
		if fi, err := os.Stat(filepath.Join(dir, "big.bin")); err != nil || fi.Size() != 1<<20 {
			t.Fatalf("prefix: %v, %v", fi, err)
		}
		run(t, dir, curl, "-sS", "--fail-with-body", "-C", "-", "-o", "big.bin", link)
		if got := testutil.FileSHA256(t, filepath.Join(dir, "big.bin")); got != bigSHA {
			t.Errorf("resumed download has sha256 %s, want %s", got, bigSHA)
		}
	})

	t.Run("wget -c resumes", func(t *testing.T) {
		wget := tool(t, "wget")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "big.bin"), big[:777777], 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, dir, wget, "-q", "-c", "-O", "big.bin", fileLink(t, s, "p1", bigSHA, "big.bin"))
		if got := testutil.FileSHA256(t, filepath.Join(dir, "big.bin")); got != bigSHA {
			t.Errorf("wget -c result has sha256 %s, want %s", got, bigSHA)
		}
	})

	t.Run("headers", func(t *testing.T) {
		link := fileLink(t, s, "p1", smallSHA, "Ünïcode ñame.txt")
		code, h, body := httpGet(t, link)
		if code != http.StatusOK || !bytes.Equal(body, small) {
			t.Fatalf("GET: %d %q", code, body)
		}
		etag := `"` + smallSHA + `"`
		for k, want := range map[string]string{
			"ETag":                etag,
			"Accept-Ranges":       "bytes",
			"Content-Disposition": "attachment; filename*=utf-8''%C3%9Cn%C3%AFcode%20%C3%B1ame.txt",
			"Content-Type":        "application/octet-stream",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		code, h, body = httpGet(t, link, "Range", "bytes=2-6", "If-Range", etag)
		if code != http.StatusPartialContent || string(body) != string(small[2:7]) || h.Get("Content-Range") != fmt.Sprintf("bytes 2-6/%d", len(small)) {
			t.Errorf("Range with the right If-Range: %d %q %q", code, body, h.Get("Content-Range"))
		}
		code, _, body = httpGet(t, link, "Range", "bytes=2-6", "If-Range", `"another"`)
		if code != http.StatusOK || !bytes.Equal(body, small) {
			t.Errorf("Range with a stale If-Range: %d %q, want the whole file", code, body)
		}
		// The link without a name saves under the shared file's name.
		bare := strings.Replace(link, "/"+url.PathEscape("Ünïcode ñame.txt")+"?", "?", 1)
		if code, h, _ := httpGet(t, bare); code != http.StatusOK || h.Get("Content-Disposition") != "attachment; filename*=utf-8''%C3%9Cn%C3%AFcode%20%C3%B1ame.txt" {
			t.Errorf("link without a name: %d %q", code, h.Get("Content-Disposition"))
		}
	})
}

// TestFileLinkRefusals presents links where they do not belong: another
// peer's, another content's, an expired one, an unbound download token,
// none; and a link to content the peer does not share. Each is refused with
// its HTTP status, and the body says why without quoting the token.
func TestFileLinkRefusals(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	var logs testutil.SyncBuffer
	n := testnet.Start(t, testnet.Options{TransferTTL: ttl, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	a, b := []byte("content A"), []byte("content B")
	shaA, shaB := testutil.SHA256Hex(a), testutil.SHA256Hex(b)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"a.txt": a, "b.txt": b}})
	p2 := n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"a.txt": a}})
	s := clientSession(t, n)
	waitFound(t, s, "a.txt", "p1", "p2")

	linkA := fileLink(t, s, "p1", shaA, "a.txt")
	parsedA, err := url.Parse(linkA)
	if err != nil {
		t.Fatal(err)
	}
	tokA := parsedA.Query().Get("token")
	if code, _, body := httpGet(t, linkA); code != http.StatusOK || !bytes.Equal(body, a) {
		t.Fatalf("the link itself: %d %q", code, body)
	}
	unbound, err := s.Client().IssueToken(t.Context(), connect.NewRequest(&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, Peer: "p1"}))
	if err != nil {
		t.Fatal(err)
	}
	missing := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, url string
		code      int
		says      string
	}{
		{"another peer", p2.URL + "/files/" + shaA + "/a.txt?token=" + tokA, http.StatusUnauthorized, "for p1 cannot be used here"},
		{"another content", p1.URL + "/files/" + shaB + "/b.txt?token=" + tokA, http.StatusUnauthorized, "bound to another content"},
		{"an unbound download token", p1.URL + "/files/" + shaA + "?token=" + unbound.Msg.GetToken(), http.StatusUnauthorized, "bound to its content"},
		{"no token", p1.URL + "/files/" + shaA, http.StatusUnauthorized, "no token"},
		{"a garbled token", p1.URL + "/files/" + shaA + "?token=x.y.z", http.StatusUnauthorized, "invalid token"},
		{"content not shared", fileLink(t, s, "p1", missing, ""), http.StatusNotFound, "does not share"},
	} {
		code, _, body := httpGet(t, tc.url)
		if code != tc.code || !strings.Contains(string(body), tc.says) || strings.Contains(string(body), tokA) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, code, body, tc.code, tc.says)
		}
	}
	// A link's token is good for nothing but its link: not for Stat.
	stat := peerv1connect.NewPeerServiceClient(http.DefaultClient, p1.URL, connect.WithInterceptors(bearerInterceptor(tokA)))
	if _, err := stat.Stat(t.Context(), connect.NewRequest(&peerv1.StatRequest{File: &peerv1.StatRequest_Sha256{Sha256: shaA}})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("Stat with a link's token: %v, want Unauthenticated", err)
	}
	// The link for A works again at p1, then dies with its token.
	testutil.Eventually(t, 10*ttl, "the link expires", func() error {
		code, _, body := httpGet(t, linkA)
		if code != http.StatusUnauthorized || !strings.Contains(string(body), "expired") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	if strings.Contains(logs.String(), tokA) {
		t.Error("a link's token was logged")
	}
}

// bearerInterceptor sends tok as the bearer token of every call.
func bearerInterceptor(tok string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+tok)
			return next(ctx, req)
		}
	}
}

// TestFileLinkCaps holds one link download of an account open on a peer
// that allows one transfer per account: a second one is refused with 429
// and Retry-After, as a Download would be; once the first ends, it works.
func TestFileLinkCaps(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	big := testutil.RandBytes(2<<20, 5)
	sha := testutil.SHA256Hex(big)
	// 64 KiB/s: the first download lasts half a minute unless closed.
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"big.bin": big}, MaxRate: 64 << 10, MaxTransfersPerAccount: 1})
	s := clientSession(t, n)
	waitFound(t, s, "big.bin", "p1")
	link := fileLink(t, s, "p1", sha, "big.bin")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := http.DefaultClient.Do(req)
	if err != nil || first.StatusCode != http.StatusOK {
		t.Fatalf("first download: %v %v", first, err)
	}
	code, h, body := httpGet(t, link)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(string(body), "account") {
		t.Errorf("second download while the first runs: %d %q %q, want 429 naming the account cap", code, h.Get("Retry-After"), body)
	}
	first.Body.Close()
	testutil.Eventually(t, 0, "the slot is free again", func() error {
		code, _, _ := httpGet(t, link, "Range", "bytes=0-9")
		if code != http.StatusPartialContent {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
}

// TestFileLinkCORS fetches a link as a page of an allowed origin would: the
// answer exposes the download's headers to the page, and a preflight for a
// ranged fetch is allowed.
func TestFileLinkCORS(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	n := testnet.Start(t, testnet.Options{})
	content := []byte("cross-origin bytes")
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"x.txt": content}, CORS: rpcserver.CORS{Origins: []string{origin}}})
	s := clientSession(t, n)
	waitFound(t, s, "x.txt", "p1")
	link := fileLink(t, s, "p1", testutil.SHA256Hex(content), "x.txt")

	code, h, _ := httpGet(t, link, "Origin", origin, "Range", "bytes=0-4")
	exposed := strings.ToLower(strings.Join(h.Values("Access-Control-Expose-Headers"), ","))
	if code != http.StatusPartialContent || h.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("cross-origin ranged GET: %d, allow-origin %q", code, h.Get("Access-Control-Allow-Origin"))
	}
	for _, want := range []string{"content-range", "content-disposition", "accept-ranges", "etag"} {
		if !strings.Contains(exposed, want) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, want)
		}
	}
	code, ac := testutil.Preflight(t, strings.Split(link, "?")[0], origin, http.MethodGet, "If-Range", "Range")
	if code/100 != 2 || ac.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(strings.ToLower(ac.Get("Access-Control-Allow-Headers")), "if-range") {
		t.Errorf("preflight of a ranged GET: %d %v", code, ac)
	}
}
