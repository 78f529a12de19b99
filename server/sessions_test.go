package server_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server/directory"
)

// curlClient runs curl against a test directory as a person would.
type curlClient struct {
	t    *testing.T
	curl string
	e    *env
}

// post sends a JSON body and returns the answer, failing on an HTTP error.
func (c curlClient) post(path, tok, body string) string {
	c.t.Helper()
	args := []string{"-sS", "--fail-with-body", "--max-time", "30", "-X", "POST", "-H", "Content-Type: application/json", "-d", body}
	if tok != "" {
		args = append(args, "-H", "Authorization: Bearer "+tok)
	}
	return run(c.t, c.curl, append(args, c.e.url+path)...)
}

// status is the HTTP status of a call: a GET, or a POST when body is set.
func (c curlClient) status(path, tok, body string) string {
	c.t.Helper()
	args := []string{"-sS", "-o", os.DevNull, "-w", "%{http_code}", "--max-time", "30"}
	if body != "" {
		args = append(args, "-X", "POST", "-H", "Content-Type: application/json", "-d", body)
	}
	if tok != "" {
		args = append(args, "-H", "Authorization: Bearer "+tok)
	}
	out, err := exec.CommandContext(c.t.Context(), c.curl, append(args, c.e.url+path)...).Output()
	if err != nil {
		c.t.Fatalf("curl %s: %v", path, err)
	}
	return string(out)
}

// metric reads one sample from the directory's /metrics.
func metric(t *testing.T, e *env, sample string) float64 {
	t.Helper()
	return testutil.Metric(t, e.url+"/metrics", sample)
}

// TestClientSessionOutlivesHeartbeats: presence belongs to peers. A client
// token made by curl (POST /v1/login, no advertise address) keeps working
// without heartbeats until its expiry, well past the peer TTL of three
// missed heartbeats; a heartbeat renews it; a peer that stops heartbeating
// is still offline after the session TTL.
func TestClientSessionOutlivesHeartbeats(t *testing.T) {
	t.Parallel()
	c := curlClient{t: t, curl: tool(t, "curl"), e: start(t)}
	peer := c.e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	credentials, _ := json.Marshal(map[string]string{"username": bob, "password": bobPW})
	login := decode(t, c.post("/v1/login", "", string(credentials)), &directoryv1.LoginResponse{})
	tok := login.GetToken()

	c.e.clock.Advance(60 * time.Second) // six heartbeat intervals, twice the session TTL
	if got := c.status("/v1/peers", tok, ""); got != "200" {
		t.Fatalf("GET /v1/peers 60 s after a curl login without heartbeats: HTTP %s, want 200", got)
	}
	if got := c.status("/v1/peers", peer.GetToken(), ""); got != "401" {
		t.Errorf("a peer that missed its heartbeats for 60 s: HTTP %s, want 401", got)
	}

	// A heartbeat renews the client session past its first expiry.
	c.e.clock.Advance(directory.DefaultTokenTTL - 2*time.Minute)
	hb := decode(t, c.post("/v1/heartbeat", tok, "{}"), &directoryv1.HeartbeatResponse{})
	if !hb.GetExpiresAt().AsTime().After(login.GetExpiresAt().AsTime()) {
		t.Fatalf("heartbeat of a client: expires %v, not after the login's %v", hb.GetExpiresAt().AsTime(), login.GetExpiresAt().AsTime())
	}
	if hb.GetHeartbeatInterval().AsDuration() != 10*time.Second || hb.GetSessionTtl().AsDuration() != 30*time.Second {
		t.Errorf("heartbeat answer: interval %v, TTL %v; want 10s and 30s", hb.GetHeartbeatInterval().AsDuration(), hb.GetSessionTtl().AsDuration())
	}
	c.e.clock.Advance(5 * time.Minute) // past the login token's expiry
	if got := c.status("/v1/peers", hb.GetToken(), ""); got != "200" {
		t.Errorf("renewed client token after the first expiry: HTTP %s, want 200", got)
	}
	if got := c.status("/v1/peers", tok, ""); got != "401" {
		t.Errorf("the login's token after its expiry: HTTP %s, want 401", got)
	}
	c.e.clock.Advance(directory.DefaultTokenTTL)
	if got := c.status("/v1/peers", hb.GetToken(), ""); got != "401" {
		t.Errorf("client token after its expiry: HTTP %s, want 401", got)
	}
}

// TestReadmeCurlRecipe types the README's curl recipe (login, then search)
// against a directory whose clock moves 60 s between the two lines, as a
// person copying them by hand would take.
func TestReadmeCurlRecipe(t *testing.T) {
	t.Parallel()
	tool(t, "curl")
	sh := tool(t, "sh")
	e := start(t)
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "")
	e.publish(peer.GetToken(), snapshot(entry("archivo.txt", "archivo")))
	e.addUser("demo", "peerhub-demo")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// README's recipe is for a directory serving TLS; this one serves
	// cleartext (e2e.TestREADMERecipesOverTLS runs it over TLS), so the
	// pin check goes and the URL becomes http://.
	cleartext := strings.NewReplacer("-k --pinnedpubkey $PIN ", "", "https://127.0.0.1:8000", "http://"+e.addr)
	var lines []string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "$ TOKEN=$(curl") || strings.HasPrefix(l, `$ curl -s -k --pinnedpubkey $PIN "https://127.0.0.1:8000/v1/search`) {
			lines = append(lines, cleartext.Replace(strings.TrimPrefix(l, "$ ")))
		}
	}
	if len(lines) != 2 {
		t.Fatalf("README recipe: found %d of its 2 lines: %q", len(lines), lines)
	}
	tokFile := t.TempDir() + "/token"
	run(t, sh, "-c", lines[0]+` && printf %s "$TOKEN" >`+tokFile)
	for range 3 { // 60 s, the peer heartbeating (every 20 s) and the client not
		e.clock.Advance(20 * time.Second)
		if _, err := e.connectClient(peer.GetToken()).Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	out := run(t, sh, "-c", `TOKEN=$(cat `+tokFile+`) && `+lines[1])
	res := decode(t, out, &directoryv1.SearchResponse{})
	if len(res.GetResults()) != 1 || !slices.Equal(res.GetResults()[0].GetNames(), []string{"archivo.txt"}) {
		t.Errorf("README search 60 s after its login = %v", res)
	}
}

// TestRefreshToken: a login that asks for a refresh token gets one, which
// Refresh exchanges for a client session without a password check (the
// password_checks counter does not move), which Logout with it revokes, and
// which no bearer check accepts.
func TestRefreshToken(t *testing.T) {
	t.Parallel()
	c := curlClient{t: t, curl: tool(t, "curl"), e: start(t)}
	credentials, _ := json.Marshal(map[string]any{"username": bob, "password": bobPW, "refresh": true})
	login := decode(t, c.post("/v1/login", "", string(credentials)), &directoryv1.LoginResponse{})
	refresh := login.GetRefreshToken()
	if refresh == "" || login.GetRefreshExpiresAt().AsTime().Sub(login.GetExpiresAt().AsTime()) < 24*time.Hour {
		t.Fatalf("login with refresh = %v", login)
	}
	checks := metric(t, c.e, "peerhub_directory_password_checks_total")
	if checks != 1 {
		t.Errorf("password checks after one login = %v, want 1", checks)
	}
	if got := c.status("/v1/peers", refresh, ""); got != "401" {
		t.Errorf("refresh token as a bearer token: HTTP %s, want 401", got)
	}
	c.e.clock.Advance(20 * 24 * time.Hour)
	body, _ := json.Marshal(map[string]string{"refreshToken": refresh})
	var sessions []string
	for range 3 {
		res := decode(t, c.post("/v1/refresh", "", string(body)), &directoryv1.RefreshResponse{})
		if res.GetUsername() != bob || res.GetToken() == "" {
			t.Fatalf("refresh = %v", res)
		}
		if got := c.status("/v1/peers", res.GetToken(), ""); got != "200" {
			t.Fatalf("GET /v1/peers with a refreshed session: HTTP %s", got)
		}
		sessions = append(sessions, res.GetToken())
	}
	if got := metric(t, c.e, "peerhub_directory_password_checks_total"); got != checks {
		t.Errorf("password checks after 3 refreshes = %v, want %v", got, checks)
	}
	if got := metric(t, c.e, "peerhub_directory_refreshes_total"); got != 3 {
		t.Errorf("refreshes = %v, want 3", got)
	}
	if got := metric(t, c.e, `peerhub_directory_logins_total{kind="client"}`); got != 1 {
		t.Errorf("client logins = %v, want 1 (refreshes are not logins)", got)
	}
	// Another account cannot revoke it.
	alicePeer := c.e.login(alice, alicePW, "", "")
	if got := c.status("/v1/logout", alicePeer.GetToken(), string(body)); got != "401" {
		t.Errorf("alice revoking bob's refresh token: HTTP %s, want 401", got)
	}
	c.post("/v1/logout", sessions[0], string(body))
	if got := c.status("/v1/refresh", "", string(body)); got != "401" {
		t.Errorf("refresh after logout with the token: HTTP %s, want 401", got)
	}
	if got := c.status("/v1/peers", sessions[1], ""); got != "200" {
		t.Errorf("another refreshed session after the logout: HTTP %s, want 200 (only the refresh token and the caller's session end)", got)
	}
	// A peer login cannot ask for one.
	peerCreds, _ := json.Marshal(map[string]any{"username": alice, "password": alicePW, "refresh": true, "advertiseAddress": "http://127.0.0.1:9002"})
	if got := c.status("/v1/login", "", string(peerCreds)); got != "400" {
		t.Errorf("peer login with refresh: HTTP %s, want 400", got)
	}
}
