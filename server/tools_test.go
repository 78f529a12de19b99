package server_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
)

// tool finds a binary, skipping the test when it is missing, except in CI
// where a missing tool is a broken machine (testutil.Missing).
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testutil.Missing(t, "%s is not installed: %v", name, err)
	}
	return path
}

// run runs a command and returns its standard output, failing the test
// with its standard error on a non-zero exit.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// decode parses a JSON answer into m.
func decode[M proto.Message](t *testing.T, body string, m M) M {
	t.Helper()
	if err := protojson.Unmarshal([]byte(body), m); err != nil {
		t.Fatalf("decode %T from %q: %v", m, body, err)
	}
	return m
}

// TestCurl talks to the directory as a person with curl would: Connect with
// JSON (POST and GET) and the REST routes.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := tool(t, "curl")
	e := start(t)
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	e.publish(peer.GetToken(), snapshot(entry("music/song.ogg", "song"), entry("docs/report.pdf", "report")))

	base := []string{"-sS", "--fail-with-body", "--max-time", "30"}
	post := func(path, tok, body string) string {
		args := append(slices.Clone(base), "-X", "POST", "-H", "Content-Type: application/json", "-d", body)
		if tok != "" {
			args = append(args, "-H", "Authorization: Bearer "+tok)
		}
		return run(t, curl, append(args, e.url+path)...)
	}
	get := func(path, tok string) string {
		return run(t, curl, append(slices.Clone(base), "-H", "Authorization: Bearer "+tok, e.url+path)...)
	}
	credentials, _ := json.Marshal(map[string]string{"username": bob, "password": bobPW})

	var tokens []string
	for _, path := range []string{"/peerhub.directory.v1.DirectoryService/Login", "/v1/login"} {
		res := decode(t, post(path, "", string(credentials)), &directoryv1.LoginResponse{})
		if res.GetToken() == "" || res.GetSessionId() == "" || res.GetExpiresAt() == nil {
			t.Fatalf("login at %s = %v", path, res)
		}
		tokens = append(tokens, res.GetToken())
	}
	tok := tokens[1]

	checkSearch := func(how string, res *directoryv1.SearchResponse) {
		t.Helper()
		if len(res.GetResults()) != 1 || !slices.Equal(res.GetResults()[0].GetNames(), []string{"music/song.ogg"}) ||
			len(res.GetResults()[0].GetSources()) != 1 || res.GetResults()[0].GetSources()[0].GetAddress() != "http://127.0.0.1:9001" {
			t.Errorf("search via %s = %v", how, res)
		}
	}
	checkSearch("Connect POST", decode(t, post("/peerhub.directory.v1.DirectoryService/Search", tokens[0], `{"query":"song"}`), &directoryv1.SearchResponse{}))
	message := url.QueryEscape(`{"query":"song"}`)
	checkSearch("Connect GET", decode(t, get("/peerhub.directory.v1.DirectoryService/Search?encoding=json&message="+message, tok), &directoryv1.SearchResponse{}))
	checkSearch("REST GET", decode(t, get("/v1/search?query=song", tok), &directoryv1.SearchResponse{}))
	checkSearch("REST GET by sha256", decode(t, get("/v1/search?sha256="+hexOf("song")+"&page_size=5", tok), &directoryv1.SearchResponse{}))

	peers := decode(t, get("/v1/peers", tok), &directoryv1.ListPeersResponse{})
	if len(peers.GetPeers()) != 1 || peers.GetPeers()[0].GetName() != alice || peers.GetPeers()[0].GetFileCount() != 2 {
		t.Errorf("GET /v1/peers = %v", peers)
	}
	files := decode(t, get("/v1/files", tok), &directoryv1.ListFilesResponse{})
	if len(files.GetFiles()) != 2 || files.GetFiles()[0].GetFile().GetName() != "docs/report.pdf" {
		t.Errorf("GET /v1/files = %v", files)
	}
	files = decode(t, get("/v1/files?peer=alice&pageSize=1", tok), &directoryv1.ListFilesResponse{})
	if len(files.GetFiles()) != 1 || files.GetNextPageToken() == "" {
		t.Errorf("GET /v1/files?peer=alice&pageSize=1 = %v", files)
	}
	info := decode(t, run(t, curl, append(slices.Clone(base), e.url+"/v1/info")...), &directoryv1.GetInfoResponse{})
	if len(info.GetKeys()) != 1 {
		t.Errorf("GET /v1/info = %v", info)
	}
	hb := decode(t, post("/v1/heartbeat", tok, "{}"), &directoryv1.HeartbeatResponse{})
	if hb.GetToken() == "" {
		t.Errorf("POST /v1/heartbeat = %v", hb)
	}
	// A transfer token for the peer, and a read token that works for GET
	// /v1/peers.
	issued := decode(t, post("/v1/tokens", tok, `{"scope":"TOKEN_SCOPE_DOWNLOAD","peer":"alice"}`), &directoryv1.IssueTokenResponse{})
	if issued.GetToken() == "" || issued.GetExpiresAt() == nil {
		t.Errorf("POST /v1/tokens = %v", issued)
	}
	read := decode(t, post("/v1/tokens", tok, `{"scope":"TOKEN_SCOPE_READ"}`), &directoryv1.IssueTokenResponse{})
	if peers := decode(t, get("/v1/peers", read.GetToken()), &directoryv1.ListPeersResponse{}); len(peers.GetPeers()) != 1 {
		t.Errorf("GET /v1/peers with a read token = %v", peers)
	}
	pub := decode(t, post("/v1/publish", peer.GetToken(), `{"delta":{"removed":["docs/report.pdf"]}}`), &directoryv1.PublishResponse{})
	if pub.GetFileCount() != 1 {
		t.Errorf("POST /v1/publish = %v", pub)
	}
	post("/v1/logout", tok, "{}")

	// Errors keep their codes: REST maps them to HTTP statuses.
	cmd := exec.CommandContext(t.Context(), curl, "-sS", "-o", os.DevNull, "-w", "%{http_code}", "-H", "Authorization: Bearer "+tok, e.url+"/v1/peers")
	out, err := cmd.Output()
	if err != nil || string(out) != "401" {
		t.Errorf("GET /v1/peers after logout: HTTP %s, %v; want 401", out, err)
	}
}

// TestGrpcurl uses reflection the way an operator would, through grpcurl
// from the tools module.
func TestGrpcurl(t *testing.T) {
	t.Parallel()
	e := start(t)
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	e.publish(peer.GetToken(), snapshot(entry("music/song.ogg", "song")))
	grpcurl := func(args ...string) string {
		return string(testutil.Grpcurl(t, append([]string{"-plaintext"}, args...)...))
	}

	services := grpcurl(e.addr, "list")
	if !slices.Contains(strings.Fields(services), "peerhub.directory.v1.DirectoryService") {
		t.Errorf("grpcurl list = %q", services)
	}
	out := grpcurl("-H", "authorization: Bearer "+peer.GetToken(), "-d", `{"query":"song"}`, e.addr, "peerhub.directory.v1.DirectoryService/Search")
	res := decode(t, out, &directoryv1.SearchResponse{})
	if len(res.GetResults()) != 1 || res.GetResults()[0].GetSha256() != hexOf("song") {
		t.Errorf("grpcurl Search = %v", res)
	}
}
