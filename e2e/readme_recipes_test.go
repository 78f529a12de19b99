package e2e_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/e2e/testnet"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestREADMERecipesOverTLS runs README's recipes against a directory with
// its default TLS, in the exact form README gives them: curl with -k
// --pinnedpubkey (log in, then search), grpcurl with -cacert and the
// certificate file the directory writes (list, then Search), and buf curl
// with --cacert (Search, by reflection). Each must answer with the peer's
// file and its pinned https:// source.
func TestREADMERecipesOverTLS(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		testutil.Missing(t, "curl is not installed")
	}
	n := testnet.Start(t, testnet.Options{TLS: true})
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"archivo1_p1.txt": []byte("Archivo de texto 1 del Peer1.\n")}})
	base, pin, _ := rpcclient.SplitPin(n.DirectoryURL)
	hostport := strings.TrimPrefix(base, "https://")
	cert := filepath.Join(n.DataDir(), identity.CertFile)
	c := client(t, n)
	testutil.Eventually(t, 0, "p1 listed", func() error { return listed(t, c, map[string]int64{"p1": 1}) })

	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Dir = testutil.RepoRoot(t)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}
	// The search answer names the file and its source's pin.
	check := func(what, out string) {
		t.Helper()
		if !strings.Contains(out, "archivo1_p1.txt") || !strings.Contains(out, string(p1.Daemon.Pin())) || !strings.Contains(out, p1.URL) {
			t.Fatalf("%s: want archivo1_p1.txt from %s with pin %s, got:\n%s", what, p1.URL, p1.Daemon.Pin(), out)
		}
	}

	// curl: TOKEN=$(curl -s -k --pinnedpubkey PIN https://HOST:PORT/v1/login ... | sed ...)
	login := run(curl, "-s", "-k", "--pinnedpubkey", string(pin), base+"/v1/login",
		"-H", "Content-Type: application/json", "-d", `{"username":"alice","password":"`+testnet.Password+`"}`)
	m := regexp.MustCompile(`"token":"([^"]*)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("curl login: no token in %s", login)
	}
	token := m[1]
	check("curl search", run(curl, "-s", "-k", "--pinnedpubkey", string(pin), base+"/v1/search?query=archivo1", "-H", "Authorization: Bearer "+token))

	// grpcurl -cacert STATE/tls-cert.pem HOST:PORT list, and Search.
	if out := string(testutil.Grpcurl(t, "-cacert", cert, hostport, "list")); !strings.Contains(out, "peerhub.directory.v1.DirectoryService") {
		t.Fatalf("grpcurl list: %s", out)
	}
	check("grpcurl Search", string(testutil.Grpcurl(t, "-cacert", cert, "-H", "authorization: Bearer "+token,
		"-d", `{"query":"archivo1"}`, hostport, "peerhub.directory.v1.DirectoryService/Search")))

	// buf curl --cacert STATE/tls-cert.pem https://HOST:PORT/SERVICE/METHOD
	check("buf curl Search", run("go", "tool", "-modfile=tools/go.mod", "buf", "curl", "--cacert", cert,
		"-H", "Authorization: Bearer "+token, "-d", `{"query":"archivo1"}`, base+"/peerhub.directory.v1.DirectoryService/Search"))
}
