package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestLoginStoresRefreshToken: `peerhub login` checks the password once and
// stores a refresh token (not the password) in PEERHUB_CONFIG_DIR, 0600 in
// a 0700 folder; `peerhub search` then makes no password check at the
// directory; `peerhub logout` revokes the token at the directory and
// removes the file.
func TestLoginStoresRefreshToken(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"archivo1_p1.txt": []byte("hola p1\n")}})
	waitIndexed(t, n, "archivo1")
	checks := func() float64 {
		return testutil.Metric(t, n.DirectoryURL+"/metrics", "peerhub_directory_password_checks_total")
	}
	before := checks()

	config := filepath.Join(t.TempDir(), "config", "peerhub")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_CONFIG_DIR": config}
	withPassword := map[string]string{"PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	for k, v := range env {
		withPassword[k] = v
	}
	if r := run(t, withPassword, "", "login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if got := checks(); got != before+1 {
		t.Fatalf("password checks after login = %v, want %v", got, before+1)
	}
	path := filepath.Join(config, "credentials.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testnet.Password) {
		t.Fatal("the stored login holds the password")
	}
	var stored []struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &stored); err != nil || len(stored) != 1 || stored[0].RefreshToken == "" {
		t.Fatalf("stored logins = %s, %v", b, err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, config: 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}

	// A second login replaces the stored token and revokes the first, so
	// logins do not pile up sessions at the directory.
	first := stored[0].RefreshToken
	if r := run(t, withPassword, "", "login"); r.code != 0 {
		t.Fatalf("second login: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if b, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &stored); err != nil || len(stored) != 1 || stored[0].RefreshToken == first {
		t.Fatalf("stored logins after a second login = %s, %v", b, err)
	}
	dir := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL)
	_, err = dir.Refresh(t.Context(), connect.NewRequest(&directoryv1.RefreshRequest{RefreshToken: first}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("refresh with the replaced token = %v, want Unauthenticated", err)
	}
	before++ // the second login's password check

	// No password anywhere: the stored login is used, without bcrypt.
	for range 3 {
		r := run(t, env, "", "search", "archivo1")
		if r.code != 0 || !strings.Contains(r.out, "archivo1_p1.txt") {
			t.Fatalf("search with the stored login: exit %d\n%s%s", r.code, r.out, r.err)
		}
	}
	if got := checks(); got != before+1 {
		t.Errorf("password checks after 3 searches with the stored login = %v, want %v", got, before+1)
	}

	if r := run(t, env, "", "logout"); r.code != 0 {
		t.Fatalf("logout: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("stored login after logout: %v, want it gone", err)
	}
	_, err = dir.Refresh(t.Context(), connect.NewRequest(&directoryv1.RefreshRequest{RefreshToken: stored[0].RefreshToken}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("refresh with the logged-out token = %v, want Unauthenticated", err)
	}
	if r := run(t, env, "", "search", "archivo1"); r.code == 0 {
		t.Errorf("search after logout without a password succeeded:\n%s", r.out)
	}
}
