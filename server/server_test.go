package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/health/grpc_health_v1"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server"
)

// TestRestart restarts a directory on the same sqlite data folder: accounts,
// signing keys (an old token still works), sessions and the index survive.
func TestRestart(t *testing.T) {
	t.Parallel()
	c := testutil.NewClock()
	cfg := server.Config{Store: server.StoreSQLite, Data: filepath.Join(t.TempDir(), "data"), InsecurePlaintext: true}
	cfg.Directory.Now = c.Now
	cfg.Directory.PasswordCost = bcrypt.MinCost

	first := startWith(t, cfg, c)
	first.addUser(alice, alicePW)
	peer := first.login(alice, alicePW, "http://127.0.0.1:9001", "")
	first.publish(peer.GetToken(), snapshot(entry("music/song.ogg", "song")))
	first.stop()

	if st, err := os.Stat(cfg.Data); err != nil {
		t.Errorf("data folder: %v", err)
	} else if st.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode %v, want 0700", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, server.DatabaseFile)); err != nil {
		t.Errorf("database file: %v", err)
	}

	c.Advance(5 * time.Second)
	second := startWith(t, cfg, c)
	// The old token verifies with the persisted key, and its session is
	// still live.
	if got := second.searchNames(peer.GetToken(), "song"); !slices.Equal(got, []string{"music/song.ogg"}) {
		t.Errorf("search after restart = %v", got)
	}
	if got := second.peerNames(peer.GetToken()); !slices.Equal(got, []string{alice}) {
		t.Errorf("peers after restart = %v", got)
	}
	if _, err := second.connectClient(peer.GetToken()).Heartbeat(t.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{})); err != nil {
		t.Errorf("heartbeat after restart: %v", err)
	}
	// The account survived.
	second.login(alice, alicePW, "", "")
	users, err := second.srv.Directory().ListUsers(t.Context())
	if err != nil || len(users) != 1 || users[0].Name != alice {
		t.Errorf("users after restart = %v, %v", users, err)
	}
}

// TestMetricsAndHealth checks /metrics and the gRPC health service.
func TestMetricsAndHealth(t *testing.T) {
	t.Parallel()
	e := start(t)
	tok := e.login(alice, alicePW, "http://127.0.0.1:9001", "").GetToken()
	e.publish(tok, snapshot(entry("a.txt", "a"), entry("b.txt", "b"), entry("c.txt", "c")))
	if _, err := e.connectClient("").Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: alice, Password: "wrong"})); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	metrics := httpGet(t, e.url+"/metrics")
	for _, want := range []string{
		"peerhub_directory_online_peers 1",
		"peerhub_directory_indexed_files 3",
		`peerhub_directory_login_failures_total{reason="bad_credentials"} 1`,
		`peerhub_directory_login_failures_total{reason="rate_limited"} 0`,
		`peerhub_rpc_requests_total{code="ok",procedure="/peerhub.directory.v1.DirectoryService/Publish"} 1`,
		`peerhub_rpc_requests_total{code="unauthenticated",procedure="/peerhub.directory.v1.DirectoryService/Login"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, alicePW) || strings.Contains(metrics, tok) {
		t.Error("/metrics contains a secret")
	}
	// Expired peers leave the gauges at once, before any reaper runs.
	e.clock.Advance(time.Hour)
	metrics = httpGet(t, e.url+"/metrics")
	if !strings.Contains(metrics, "peerhub_directory_online_peers 0") || !strings.Contains(metrics, "peerhub_directory_indexed_files 0") {
		t.Errorf("/metrics after expiry:\n%s", metrics)
	}

	health := grpc_health_v1.NewHealthClient(e.conn)
	for _, svc := range []string{"", "peerhub.directory.v1.DirectoryService"} {
		res, err := health.Check(t.Context(), &grpc_health_v1.HealthCheckRequest{Service: svc})
		if err != nil || res.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %v, %v", svc, res, err)
		}
	}
}

// TestConfigValidate names what is wrong with bad configurations.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string // substring of the error; "" for valid
	}{
		{"defaults", server.Config{}, ""},
		{"memory", server.Config{Store: "memory", Listen: ":0"}, ""},
		{"bad listen", server.Config{Listen: "8000"}, "listen address"},
		{"bad store", server.Config{Store: "mysql"}, "want sqlite"},
		{"postgres", server.Config{Store: "postgres://user:hunter2@db/peerhub"}, ""},
		{"other database URL", server.Config{Store: "mysql://user:hunter2@db/peerhub"}, "want sqlite"},
		{"half TLS", server.Config{TLSCert: "cert.pem"}, "both a certificate and a key"},
		{"negative heartbeat", server.Config{Heartbeat: -time.Second}, "heartbeat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("Validate leaks the database password: %v", err)
			}
		})
	}
}

// TestAccountsFile logs in with a read-only htpasswd account.
func TestAccountsFile(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	line := "carol:$2y$" + strings.TrimPrefix(string(hash), "$2a$") + "\n"
	if err := os.WriteFile(path, []byte("# peerhub accounts\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.Accounts = path })
	tok := e.login("carol", "carol-secret", "http://127.0.0.1:9009", "").GetToken()
	if got := e.peerNames(tok); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("peers = %v", got)
	}
	_, err = e.connectClient("").Login(t.Context(), connect.NewRequest(&directoryv1.LoginRequest{Username: "carol", Password: "wrong"}))
	if codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("wrong password: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(bad, []byte("dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: server.StoreMemory, Accounts: bad, InsecurePlaintext: true}
	if _, err := server.New(t.Context(), cfg, nil); err == nil || !strings.Contains(err.Error(), "only bcrypt") {
		t.Errorf("New with a SHA1 htpasswd line = %v", err)
	}
}

// TestTLS serves HTTPS with a certificate from the test, and answers over
// HTTP/2.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "peerhub test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.TLSCert, c.TLSKey, c.InsecurePlaintext = certFile, keyFile, false })
	if !strings.HasPrefix(e.url, "https://") {
		t.Fatalf("URL = %s", e.url)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	hc := rpcclient.NewHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	res, err := directoryv1connect.NewDirectoryServiceClient(hc, e.url).GetInfo(t.Context(), connect.NewRequest(&directoryv1.GetInfoRequest{}))
	if err != nil || len(res.Msg.GetKeys()) != 1 {
		t.Fatalf("GetInfo over TLS = %v, %v", res, err)
	}
	get, err := hc.Get(e.url + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.StatusCode != http.StatusOK || get.ProtoMajor != 2 {
		t.Errorf("GET /v1/info over TLS: %s %s", get.Proto, get.Status)
	}
}
