package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server"
)

// TestEveryRPC walks a peer and a client through every method, once over
// Connect and once over gRPC.
func TestEveryRPC(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			// A short token TTL makes the heartbeat below sign a new token
			// (a heartbeat within TokenTTL/15 of the last token returns it).
			e := start(t, func(c *server.Config) { c.Directory.TokenTTL = 30 * time.Second })

			info := call(t, e, p, "", "GetInfo", &directoryv1.GetInfoRequest{}, &directoryv1.GetInfoResponse{})
			if info.GetHeartbeatInterval().AsDuration() != 10*time.Second || info.GetSessionTtl().AsDuration() != 30*time.Second {
				t.Errorf("GetInfo intervals = %v, %v", info.GetHeartbeatInterval().AsDuration(), info.GetSessionTtl().AsDuration())
			}
			if len(info.GetKeys()) != 1 || info.GetKeys()[0].GetAlgorithm() != "EdDSA" || len(info.GetKeys()[0].GetPublicKey()) != ed25519.PublicKeySize {
				t.Errorf("GetInfo keys = %v", info.GetKeys())
			}
			if info.GetMaxPublishEntries() != 10_000 || info.GetMaxPeerEntries() != 100_000 || info.GetTokenIssuer() != token.DefaultIssuer || info.GetServerVersion() == "" {
				t.Errorf("GetInfo = %v", info)
			}

			peer := call(t, e, p, "", "Login", &directoryv1.LoginRequest{Username: alice, Password: alicePW, AdvertiseAddress: "http://127.0.0.1:9001"}, &directoryv1.LoginResponse{})
			if peer.GetPeerName() != alice || peer.GetSessionId() == "" || peer.GetToken() == "" || peer.GetHeartbeatInterval().AsDuration() != 10*time.Second {
				t.Errorf("Login = %v", peer)
			}
			// The token verifies offline with the key GetInfo published.
			v := token.NewVerifier(info.GetTokenIssuer(), []token.PublicKey{{ID: info.GetKeys()[0].GetKeyId(), Key: info.GetKeys()[0].GetPublicKey()}}, token.WithClock(e.clock.Now))
			if c, err := v.Verify(t.Context(), peer.GetToken()); err != nil || c.SessionID != peer.GetSessionId() || c.Peer != alice || c.Username() != alice {
				t.Errorf("offline verify = %+v, %v", c, err)
			}
			client := call(t, e, p, "", "Login", &directoryv1.LoginRequest{Username: bob, Password: bobPW}, &directoryv1.LoginResponse{})
			if client.GetPeerName() != "" {
				t.Errorf("client Login peer name = %q", client.GetPeerName())
			}

			pub := call(t, e, p, peer.GetToken(), "Publish", snapshot(entry("music/song.ogg", "song"), entry("docs/report.pdf", "report")), &directoryv1.PublishResponse{})
			if pub.GetFileCount() != 2 {
				t.Errorf("Publish snapshot count = %d", pub.GetFileCount())
			}
			pub = call(t, e, p, peer.GetToken(), "Publish", delta([]*directoryv1.FileEntry{entry("music/other-song.ogg", "song")}, "docs/report.pdf"), &directoryv1.PublishResponse{})
			if pub.GetFileCount() != 2 {
				t.Errorf("Publish delta count = %d", pub.GetFileCount())
			}

			found := call(t, e, p, client.GetToken(), "Search", &directoryv1.SearchRequest{Query: "SONG"}, &directoryv1.SearchResponse{})
			if len(found.GetResults()) != 1 {
				t.Fatalf("Search = %v", found)
			}
			r := found.GetResults()[0]
			if r.GetSha256() != hexOf("song") || r.GetSize() != 4 || r.GetPieceSize() != 1<<20 || r.GetPieceRoot() != hexOf("pieces of song") ||
				!slices.Equal(r.GetNames(), []string{"music/other-song.ogg", "music/song.ogg"}) || len(r.GetSources()) != 2 ||
				r.GetSources()[0].GetPeer() != alice || r.GetSources()[0].GetAddress() != "http://127.0.0.1:9001" || !r.GetSources()[0].GetLastSeen().AsTime().Equal(e.clock.Now()) {
				t.Errorf("Search result = %v", r)
			}
			byHash := call(t, e, p, client.GetToken(), "Search", &directoryv1.SearchRequest{Sha256: hexOf("song")}, &directoryv1.SearchResponse{})
			if len(byHash.GetResults()) != 1 || byHash.GetResults()[0].GetSha256() != hexOf("song") {
				t.Errorf("Search by sha256 = %v", byHash)
			}

			peers := call(t, e, p, client.GetToken(), "ListPeers", &directoryv1.ListPeersRequest{}, &directoryv1.ListPeersResponse{})
			if len(peers.GetPeers()) != 1 {
				t.Fatalf("ListPeers = %v", peers)
			}
			pi := peers.GetPeers()[0]
			if pi.GetName() != alice || pi.GetUsername() != alice || pi.GetAddress() != "http://127.0.0.1:9001" || pi.GetFileCount() != 2 || pi.GetOnlineSince() == nil || pi.GetLastSeen() == nil {
				t.Errorf("ListPeers = %v", pi)
			}

			files := call(t, e, p, client.GetToken(), "ListFiles", &directoryv1.ListFilesRequest{PageSize: 1, Peer: alice}, &directoryv1.ListFilesResponse{})
			if len(files.GetFiles()) != 1 || files.GetNextPageToken() == "" || !proto.Equal(files.GetFiles()[0].GetFile(), entry("music/other-song.ogg", "song")) {
				t.Fatalf("ListFiles page 1 = %v", files)
			}
			files = call(t, e, p, client.GetToken(), "ListFiles", &directoryv1.ListFilesRequest{PageSize: 1, PageToken: files.GetNextPageToken(), Peer: alice}, &directoryv1.ListFilesResponse{})
			if len(files.GetFiles()) != 1 || files.GetNextPageToken() != "" || files.GetFiles()[0].GetFile().GetName() != "music/song.ogg" || files.GetFiles()[0].GetPeer() != alice {
				t.Errorf("ListFiles page 2 = %v", files)
			}

			e.clock.Advance(3 * time.Second)
			hb := call(t, e, p, peer.GetToken(), "Heartbeat", &directoryv1.HeartbeatRequest{}, &directoryv1.HeartbeatResponse{})
			if hb.GetToken() == "" || hb.GetToken() == peer.GetToken() || !hb.GetExpiresAt().AsTime().After(peer.GetExpiresAt().AsTime()) {
				t.Errorf("Heartbeat = %v", hb)
			}
			// Both the old and the renewed token work.
			call(t, e, p, peer.GetToken(), "ListPeers", &directoryv1.ListPeersRequest{}, &directoryv1.ListPeersResponse{})
			call(t, e, p, hb.GetToken(), "ListPeers", &directoryv1.ListPeersRequest{}, &directoryv1.ListPeersResponse{})

			call(t, e, p, hb.GetToken(), "Logout", &directoryv1.LogoutRequest{}, &directoryv1.LogoutResponse{})
			expectCode(t, e, p, peer.GetToken(), "Heartbeat", &directoryv1.HeartbeatRequest{}, &directoryv1.HeartbeatResponse{}, connect.CodeUnauthenticated)
			empty := call(t, e, p, client.GetToken(), "Search", &directoryv1.SearchRequest{Query: "song"}, &directoryv1.SearchResponse{})
			if len(empty.GetResults()) != 0 {
				t.Errorf("Search after the peer logged out = %v", empty)
			}
		})
	}
}

// TestExpiry checks that a silent peer vanishes right after its TTL while a
// heartbeating one stays, with an injected clock.
func TestExpiry(t *testing.T) {
	t.Parallel()
	e := start(t)
	quiet := e.login(alice, alicePW, "http://127.0.0.1:9001", "quiet")
	busy := e.login(bob, bobPW, "http://127.0.0.1:9002", "busy")
	e.publish(quiet.GetToken(), snapshot(entry("quiet-file.txt", "q")))
	e.publish(busy.GetToken(), snapshot(entry("busy-file.txt", "b")))
	observer := e.login(bob, bobPW, "", "").GetToken()
	busyTok := busy.GetToken()
	heartbeat := func() {
		t.Helper()
		res, err := e.connectClient(busyTok).Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{}))
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		busyTok = res.Msg.GetToken()
	}
	// Three intervals of 10 s make the 30 s TTL; heartbeat each interval
	// and keep the observer alive too.
	for range 2 {
		e.clock.Advance(10 * time.Second)
		heartbeat()
		if _, err := e.connectClient(observer).Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(10*time.Second - time.Millisecond) // 1 ms before quiet's TTL
	if got := e.peerNames(observer); !slices.Equal(got, []string{"busy", "quiet"}) {
		t.Fatalf("peers just before the TTL = %v", got)
	}
	e.clock.Advance(time.Millisecond) // exactly the TTL: offline
	if got := e.peerNames(observer); !slices.Equal(got, []string{"busy"}) {
		t.Errorf("peers after the TTL = %v", got)
	}
	if got := e.searchNames(observer, "file"); !slices.Equal(got, []string{"busy-file.txt"}) {
		t.Errorf("search after the TTL = %v", got)
	}
	if got := e.index(observer); len(got) != 1 || got[0].GetPeer() != "busy" {
		t.Errorf("files after the TTL = %v", got)
	}
	// The silent peer's token is refused although it has not expired.
	_, err := e.connectClient(quiet.GetToken()).Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{}))
	if codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("heartbeat of an expired session: %v", err)
	}
}

// authedCalls are every method that needs a token, with a valid request.
var authedCalls = []struct {
	method   string
	req, res proto.Message
}{
	{"Heartbeat", &directoryv1.HeartbeatRequest{}, &directoryv1.HeartbeatResponse{}},
	{"Logout", &directoryv1.LogoutRequest{}, &directoryv1.LogoutResponse{}},
	{"Publish", snapshot(entry("a.txt", "a")), &directoryv1.PublishResponse{}},
	{"Search", &directoryv1.SearchRequest{Query: "abc"}, &directoryv1.SearchResponse{}},
	{"ListPeers", &directoryv1.ListPeersRequest{}, &directoryv1.ListPeersResponse{}},
	{"ListFiles", &directoryv1.ListFilesRequest{}, &directoryv1.ListFilesResponse{}},
	{"IssueToken", &directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_READ}, &directoryv1.IssueTokenResponse{}},
}

// TestAuthMatrix refuses missing, malformed, expired, forged and logged-out
// tokens on every method but GetInfo and Login, over both protocols.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *server.Config) {
		// A session that outlives its token isolates token expiry from
		// session expiry.
		c.Directory.TokenTTL = time.Minute
		c.Directory.SessionTTL = time.Hour
	})
	const addr = "http://127.0.0.1:9001"
	expired := e.login(alice, alicePW, addr, "")
	e.clock.Advance(2 * time.Minute)

	live := e.login(alice, alicePW, addr, "") // replaces the expired token's session; that is fine
	info, err := e.connectClient("").GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	// Forged: a valid session and claims, the directory's key id, another
	// key.
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	claims := token.Claims{SessionID: live.GetSessionId(), Peer: alice}
	claims.Subject = alice
	forged, _, err := token.NewSigner(info.Msg.GetKeys()[0].GetKeyId(), otherKey, token.DefaultIssuer).Sign(claims, e.clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, _, _ := token.NewSigner("some-other-key", otherKey, token.DefaultIssuer).Sign(claims, e.clock.Now(), time.Minute)
	wrongIssuer, _, _ := token.NewSigner("x", otherKey, "someone-else").Sign(claims, e.clock.Now(), time.Minute)

	loggedOut := e.login(bob, bobPW, "http://127.0.0.1:9002", "")
	if _, err := e.connectClient(loggedOut.GetToken()).Logout(t.Context(), connect.NewRequest(&directoryv1.LogoutRequest{})); err != nil {
		t.Fatal(err)
	}

	bad := []struct{ name, tok string }{
		{"missing", ""},
		{"garbage", "not-a-jwt"},
		{"expired", expired.GetToken()},
		{"forged", forged},
		{"unknown key", unknownKey},
		{"wrong issuer", wrongIssuer},
		{"logged out", loggedOut.GetToken()},
		// One bit of the signature flipped, re-encoded canonically.
		{"tampered", testutil.FlipSignatureBit(t, live.GetToken())},
		// The live token itself, re-encoded with a padding bit set.
		{"non-canonical", testutil.NonCanonical(t, live.GetToken())},
	}
	for _, p := range protocols {
		for _, c := range authedCalls {
			for _, b := range bad {
				t.Run(p.name+"/"+c.method+"/"+b.name, func(t *testing.T) {
					expectCode(t, e, p, b.tok, c.method, c.req, proto.Clone(c.res), connect.CodeUnauthenticated)
				})
			}
		}
		t.Run(p.name+"/public", func(t *testing.T) {
			call(t, e, p, "", "GetInfo", &directoryv1.GetInfoRequest{}, &directoryv1.GetInfoResponse{})
			call(t, e, p, "", "Login", &directoryv1.LoginRequest{Username: bob, Password: bobPW}, &directoryv1.LoginResponse{})
		})
	}
	// The live token still works after all that.
	if got := e.peerNames(live.GetToken()); !slices.Equal(got, []string{alice}) {
		t.Errorf("peers = %v", got)
	}
	health := grpc_health_v1.NewHealthClient(e.conn)
	res, err := health.Check(t.Context(), &grpc_health_v1.HealthCheckRequest{Service: "peerhub.directory.v1.DirectoryService"})
	if err != nil || res.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("health without a token = %v, %v", res, err)
	}
}

// TestLogin covers the login rules: wrong passwords, the throttle (a delay,
// never a lockout), client sessions, peer-name conflicts and re-login.
func TestLogin(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var waits []time.Duration // the throttle's delays, recorded instead of slept
	e := start(t, func(c *server.Config) {
		c.Directory.Sleep = func(_ context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return nil
		}
	})
	c := e.connectClient("")
	login := func(user, pw, addr, name string) (*directoryv1.LoginResponse, error) {
		res, err := c.Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: user, Password: pw, AdvertiseAddress: addr, PeerName: name}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}

	t.Run("throttle", func(t *testing.T) {
		for i := range 5 {
			if _, err := login(alice, "wrong", "", ""); codeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		// An unknown user fails the same way.
		if _, err := login("nobody", "wrong", "", ""); codeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("unknown user: %v", err)
		}
		// No lockout: a 7th wrong password is checked, and the right one
		// gets in, after a delay.
		if _, err := login(alice, "wrong", "", ""); codeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("7th failure: %v", err)
		}
		if _, err := login(alice, alicePW, "", ""); err != nil {
			t.Fatalf("right password after failures: %v", err)
		}
		mu.Lock()
		got := slices.Clone(waits)
		mu.Unlock()
		// From this address, the 4th attempt on waits 250ms, doubling.
		want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
		if !slices.Equal(got, want) {
			t.Errorf("throttle waits = %v, want %v", got, want)
		}
		metrics := httpGet(t, e.url+"/metrics")
		for _, want := range []string{
			`peerhub_directory_login_failures_total{reason="bad_credentials"} 7`,
			`peerhub_directory_login_failures_total{reason="rate_limited"} 0`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})

	t.Run("client cannot publish", func(t *testing.T) {
		cl, err := login(bob, bobPW, "", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.connectClient(cl.GetToken()).Publish(t.Context(), connect.NewRequest(snapshot(entry("a.txt", "a"))))
		if codeOf(err) != connect.CodeFailedPrecondition {
			t.Errorf("client publish: %v", err)
		}
	})

	t.Run("re-login replaces the session", func(t *testing.T) {
		first, err := login(bob, bobPW, "http://127.0.0.1:9005", "bobs-box")
		if err != nil {
			t.Fatal(err)
		}
		e.publish(first.GetToken(), snapshot(entry("old.txt", "old")))
		second, err := login(bob, bobPW, "http://127.0.0.1:9006", "bobs-box")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.connectClient(first.GetToken()).Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{})); codeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("replaced session's heartbeat: %v", err)
		}
		peers, err := e.connectClient(second.GetToken()).ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range peers.Msg.GetPeers() {
			if p.GetName() == "bobs-box" {
				n++
				if p.GetAddress() != "http://127.0.0.1:9006" || p.GetFileCount() != 0 {
					t.Errorf("replaced peer = %v", p)
				}
			}
		}
		if n != 1 {
			t.Errorf("bobs-box listed %d times", n)
		}
		// Another account cannot take the name while bob's peer is online.
		if _, err := login(alice, alicePW, "http://127.0.0.1:9007", "bobs-box"); codeOf(err) != connect.CodeAlreadyExists {
			t.Errorf("alice taking bob's peer name: %v", err)
		}
	})
}

// TestLimits refuses oversized changes with ResourceExhausted and changes
// nothing.
func TestLimits(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *server.Config) {
		c.Directory.MaxPublishEntries = 3
		c.Directory.MaxPeerFiles = 4
	})
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "").GetToken()
	e.publish(peer, snapshot(entry("a", "a"), entry("b", "b"), entry("c", "c")))
	before := e.index(peer)
	for _, tc := range []struct {
		name string
		req  *directoryv1.PublishRequest
	}{
		{"snapshot over the per-call limit", snapshot(entry("1", "1"), entry("2", "2"), entry("3", "3"), entry("4", "4"))},
		{"delta over the per-call limit", delta([]*directoryv1.FileEntry{entry("1", "1"), entry("2", "2")}, "a", "b")},
		{"delta over the per-peer limit", delta([]*directoryv1.FileEntry{entry("d", "d"), entry("e", "e")})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range protocols {
				expectCode(t, e, p, peer, "Publish", tc.req, &directoryv1.PublishResponse{}, connect.CodeResourceExhausted)
			}
			if after := e.index(peer); !equalFiles(before, after) {
				t.Errorf("index changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func equalFiles(a, b []*directoryv1.SharedFile) bool {
	return slices.EqualFunc(a, b, func(x, y *directoryv1.SharedFile) bool { return proto.Equal(x, y) })
}
