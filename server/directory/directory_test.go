package directory_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlite"
)

// newClock is the shared settable test clock.
var newClock = testutil.NewClock

// newStore opens a fresh sqlite store in the test's temporary folder,
// closed when the test ends.
func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// newDir returns a directory on st with cheap hashes.
func newDir(t *testing.T, st store.Store, c *testutil.Clock, adjust ...func(*directory.Config)) *directory.Directory {
	t.Helper()
	cfg := directory.Config{Now: c.Now, PasswordCost: bcrypt.MinCost}
	for _, a := range adjust {
		a(&cfg)
	}
	d, err := directory.New(t.Context(), st, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// addUsers adds accounts named users, each with the password "pw".
func addUsers(t *testing.T, d *directory.Directory, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := d.AddUser(t.Context(), u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
}

func hexOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func file(name string) store.File {
	return store.File{Name: name, Size: 1, SHA256: hexOf(name), PieceSize: 1 << 20, PieceRoot: hexOf("p" + name)}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  directory.Config
		ok   bool
	}{
		{"zero is all defaults", directory.Config{}, true},
		{"TTL below interval", directory.Config{HeartbeatInterval: time.Minute, SessionTTL: time.Second}, false},
		{"token TTL below interval", directory.Config{HeartbeatInterval: time.Minute, TokenTTL: time.Second}, false},
		{"negative limit", directory.Config{MaxPeerFiles: -1}, false},
		{"limit beyond int32", directory.Config{MaxPeerFiles: 1 << 40}, false},
		{"password cost too low", directory.Config{PasswordCost: 1}, false},
		{"long session, short token", directory.Config{SessionTTL: time.Hour, TokenTTL: time.Minute}, true},
		{"transfer tokens peers refuse", directory.Config{TransferTTL: token.MaxLifetime + time.Second}, false},
		{"short transfer tokens", directory.Config{TransferTTL: time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestLoadHtpasswd(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(string(hash), "$2a$")
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("# accounts\n\nann:$2y$" + body + "\nben:$2a$" + body + "\r\ncid:$2b$" + body + "\n")
	accounts, err := directory.LoadHtpasswd(good)
	if err != nil || len(accounts) != 3 {
		t.Fatalf("LoadHtpasswd = %v, %v", accounts, err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"sha1", "ann:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "only bcrypt"},
		{"apr1", "ann:$apr1$abc$def\n", "only bcrypt"},
		{"crypt", "ann:abJnggxhB/yWI\n", "only bcrypt"},
		{"truncated bcrypt", "ann:$2y$10$short\n", "only bcrypt"},
		{"no colon", "ann\n", `want "name:bcrypt-hash"`},
		{"bad name", "../ann:$2y$" + body + "\n", "line 1"},
		{"twice", "ann:$2y$" + body + "\nann:$2y$" + body + "\n", "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := directory.LoadHtpasswd(write(tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadHtpasswd = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := directory.LoadHtpasswd(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("ro-pw"), bcrypt.MinCost)
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte("ro:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClock()
	st := newStore(t)
	d := newDir(t, st, c, func(cfg *directory.Config) { cfg.AccountsFile = path })
	ctx := t.Context()

	for _, tc := range []struct {
		name, user, pw string
		want           error
	}{
		{"ok", "zed", "pw", nil},
		{"taken", "zed", "pw", directory.ErrAlreadyExists},
		{"read-only name", "ro", "pw", directory.ErrAlreadyExists},
		{"bad name", "-zed", "pw", directory.ErrInvalidArgument},
		{"empty password", "amy", "", directory.ErrInvalidArgument},
		{"long password", "amy", strings.Repeat("p", 73), directory.ErrInvalidArgument},
	} {
		if err := d.AddUser(ctx, tc.user, tc.pw); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("AddUser %s = %v, want %v", tc.name, err, tc.want)
		}
	}
	a, err := st.GetAccount(ctx, "zed")
	if err != nil || !strings.HasPrefix(string(a.PasswordHash), "$2a$04$") {
		t.Errorf("stored hash = %q, %v", a.PasswordHash, err)
	}
	if _, err := d.Login(ctx, directory.Credentials{Username: "ro", Password: "ro-pw"}); err != nil {
		t.Errorf("read-only login: %v", err)
	}
	users, err := d.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0] != (directory.User{Name: "ro", ReadOnly: true}) || users[1].Name != "zed" || users[1].ReadOnly {
		t.Errorf("ListUsers = %+v, %v", users, err)
	}
	if err := d.RemoveUser(ctx, "ro"); !errors.Is(err, directory.ErrReadOnly) {
		t.Errorf("RemoveUser(ro) = %v", err)
	}
	if err := d.RemoveUser(ctx, "nobody"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("RemoveUser(nobody) = %v", err)
	}
	if err := d.RemoveUser(ctx, "zed"); err != nil {
		t.Errorf("RemoveUser(zed) = %v", err)
	}

	// Without the accounts file, the read-only user's placeholder account
	// neither logs in nor blocks a new account of that name.
	d2 := newDir(t, st, c)
	if _, err := d2.Login(ctx, directory.Credentials{Username: "ro", Password: "ro-pw"}); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("login of a removed read-only user = %v", err)
	}
	if users, _ := d2.ListUsers(ctx); len(users) != 0 {
		t.Errorf("ListUsers shows placeholders: %+v", users)
	}
	if err := d2.AddUser(ctx, "ro", "new-pw"); err != nil {
		t.Errorf("AddUser over a placeholder = %v", err)
	}
	if _, err := d2.Login(ctx, directory.Credentials{Username: "ro", Password: "new-pw"}); err != nil {
		t.Errorf("login after re-adding = %v", err)
	}
}

func TestLoginAndSessions(t *testing.T) {
	t.Parallel()
	c := newClock()
	st := newStore(t)
	d := newDir(t, st, c)
	ctx := t.Context()
	if err := d.AddUser(ctx, "ann", "pw"); err != nil {
		t.Fatal(err)
	}

	// Unknown user and wrong password look the same.
	_, errUnknown := d.Login(ctx, directory.Credentials{Username: "nobody", Password: "pw"})
	_, errWrong := d.Login(ctx, directory.Credentials{Username: "ann", Password: "nope"})
	if !errors.Is(errUnknown, directory.ErrUnauthenticated) || errUnknown.Error() != errWrong.Error() {
		t.Errorf("unknown user %v vs wrong password %v", errUnknown, errWrong)
	}
	for _, tc := range []struct {
		name string
		cr   directory.Credentials
	}{
		{"bad address", directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: "host:80"}},
		{"bad peer name", directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: "http://h", PeerName: "a b"}},
		{"bad username", directory.Credentials{Username: "a/b", Password: "pw"}},
	} {
		if _, err := d.Login(ctx, tc.cr); !errors.Is(err, directory.ErrInvalidArgument) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	peer, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: "http://10.0.0.1:8001"})
	if err != nil || peer.PeerName != "ann" {
		t.Fatalf("peer login = %+v, %v", peer, err)
	}
	claims, err := d.Authenticate(ctx, peer.Token)
	if err != nil || claims.SessionID != peer.SessionID || claims.Peer != "ann" {
		t.Fatalf("Authenticate = %+v, %v", claims, err)
	}
	n, err := d.Publish(ctx, claims, directory.Change{Snapshot: true, Added: []store.File{file("a"), file("b")}})
	if err != nil || n != 2 {
		t.Fatalf("Publish = %d, %v", n, err)
	}

	// Defense behind the protocol's rules.
	bad := []directory.Change{
		{Snapshot: true, Added: []store.File{file("../x")}},
		{Snapshot: true, Added: []store.File{file("/etc/passwd")}},
		{Snapshot: true, Added: []store.File{file("a//b")}},
		{Snapshot: true, Added: []store.File{file("a\x00b")}},
		{Snapshot: true, Added: []store.File{file("bad\xff")}},
		{Snapshot: true, Added: []store.File{{Name: "x", SHA256: "ABC", PieceRoot: hexOf("x"), PieceSize: 1 << 20}}},
		{Snapshot: true, Added: []store.File{{Name: "x", SHA256: hexOf("x"), PieceRoot: "", PieceSize: 1 << 20}}},
		{Snapshot: true, Added: []store.File{{Name: "x", SHA256: hexOf("x"), PieceRoot: hexOf("x"), PieceSize: 1}}},
		{Snapshot: true, Added: []store.File{{Name: "x", Size: -1, SHA256: hexOf("x"), PieceRoot: hexOf("x"), PieceSize: 1 << 20}}},
		{Removed: []string{"../x"}},
		{Snapshot: true, Removed: []string{"a"}},
	}
	for i, ch := range bad {
		if _, err := d.Publish(ctx, claims, ch); !errors.Is(err, directory.ErrInvalidArgument) {
			t.Errorf("bad change %d: %v", i, err)
		}
	}
	if _, err := d.Publish(ctx, claims, directory.Change{Snapshot: true, Added: []store.File{file("../x")}}); !errors.Is(err, sharepath.ErrInvalid) {
		t.Errorf("a bad name's error does not wrap sharepath.ErrInvalid: %v", err)
	}
	for i, q := range []store.SearchQuery{{}, {Query: "ab"}, {Query: "abc", PageSize: 1001}, {Query: "abc", PageSize: -1}, {SHA256: "x"}} {
		if _, _, err := d.Search(ctx, q); !errors.Is(err, directory.ErrInvalidArgument) {
			t.Errorf("bad query %d: %v", i, err)
		}
	}
	files, _, err := d.ListFiles(ctx, "", store.Page{})
	if err != nil || len(files) != 2 {
		t.Errorf("index after bad changes = %v, %v", files, err)
	}

	client, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw"})
	if err != nil || client.PeerName != "" {
		t.Fatalf("client login = %+v, %v", client, err)
	}
	cc, _ := d.Authenticate(ctx, client.Token)
	if _, err := d.Publish(ctx, cc, directory.Change{Snapshot: true}); !errors.Is(err, directory.ErrNotPeer) {
		t.Errorf("client publish = %v", err)
	}

	// Heartbeat extends the session by the TTL (30 s by default). Within a
	// fifteenth of the token TTL (1 min) it hands the same token back.
	c.Advance(25 * time.Second)
	hb, err := d.Heartbeat(ctx, claims, time.Time{})
	if err != nil || hb.Token != peer.Token || !hb.ExpiresAt.Equal(peer.ExpiresAt) {
		t.Fatalf("early heartbeat = %+v, %v; want the login's token", hb, err)
	}
	c.Advance(25 * time.Second)
	if _, err := d.Authenticate(ctx, peer.Token); err != nil {
		t.Errorf("after a heartbeat: %v", err)
	}
	// Presence belongs to peers: a silent client session lives until its
	// token expires (issue 11).
	if _, err := d.Authenticate(ctx, client.Token); err != nil {
		t.Errorf("silent client after 50 s = %v, want its session live until %v", err, client.ExpiresAt)
	}
	if _, err := d.Heartbeat(ctx, claims, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.Advance(15 * time.Second) // 65 s after the login's token
	hb, err = d.Heartbeat(ctx, claims, time.Time{})
	if err != nil || hb.Token == peer.Token || !hb.ExpiresAt.Equal(c.Now().Add(directory.DefaultTokenTTL)) {
		t.Fatalf("heartbeat after 65 s = %+v, %v; want a new token", hb, err)
	}
	if err := d.Logout(ctx, claims, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, peer.Token); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("after logout = %v", err)
	}
	if err := d.Logout(ctx, claims, ""); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("second logout = %v", err)
	}
}

func TestPublishLimits(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) { cfg.MaxPublishEntries = 2; cfg.MaxPeerFiles = 3 })
	ctx := t.Context()
	if err := d.AddUser(ctx, "ann", "pw"); err != nil {
		t.Fatal(err)
	}
	g, _ := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: "http://h:1"})
	claims, _ := d.Authenticate(ctx, g.Token)
	if _, err := d.Publish(ctx, claims, directory.Change{Added: []store.File{file("a"), file("b")}}); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []directory.Change{
		{Snapshot: true, Added: []store.File{file("a"), file("b"), file("c")}},
		{Added: []store.File{file("c")}, Removed: []string{"a", "b"}},
		{Added: []store.File{file("c"), file("d")}},
	} {
		if _, err := d.Publish(ctx, claims, ch); !errors.Is(err, directory.ErrLimit) {
			t.Errorf("change %d = %v, want ErrLimit", i, err)
		}
	}
	files, _, _ := d.ListFiles(ctx, "ann", store.Page{})
	if len(files) != 2 {
		t.Errorf("files after refused changes = %d", len(files))
	}
}

func TestKeysPersist(t *testing.T) {
	t.Parallel()
	c := newClock()
	st := newStore(t)
	d1 := newDir(t, st, c)
	if err := d1.AddUser(t.Context(), "ann", "pw"); err != nil {
		t.Fatal(err)
	}
	g, err := d1.Login(t.Context(), directory.Credentials{Username: "ann", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	d2 := newDir(t, st, c)
	if _, err := d2.Authenticate(t.Context(), g.Token); err != nil {
		t.Errorf("a second directory on the same store refuses the token: %v", err)
	}
	k1, k2 := d1.Info().Keys, d2.Info().Keys
	if len(k1) != 1 || !slices.EqualFunc(k1, k2, func(a, b token.PublicKey) bool { return a.ID == b.ID && a.Key.Equal(b.Key) }) {
		t.Errorf("keys %v vs %v", k1, k2)
	}
	// A key another replica adds to the store later verifies too: the
	// unknown key id makes the directory reload the store's keys.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := st.AddSigningKey(t.Context(), store.SigningKey{ID: "replica-key", Private: priv, Created: c.Now()}); err != nil {
		t.Fatal(err)
	}
	claims, err := d1.Authenticate(t.Context(), g.Token)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := token.NewSigner("replica-key", priv, token.DefaultIssuer).Sign(claims, c.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d1.Authenticate(t.Context(), raw); err != nil {
		t.Errorf("token of a key added later: %v", err)
	}
	if len(d1.Info().Keys) != 2 {
		t.Errorf("Info keys after reload = %v", d1.Info().Keys)
	}
}

// countingStore counts reaps.
type countingStore struct {
	store.Store
	reaps atomic.Int32
}

func (s *countingStore) ReapExpired(ctx context.Context, now time.Time) (int, error) {
	s.reaps.Add(1)
	return s.Store.ReapExpired(ctx, now)
}

func TestRunReaps(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: newStore(t)}
	d := newDir(t, st, newClock(), func(cfg *directory.Config) { cfg.HeartbeatInterval = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, "the reaper runs twice", func() error {
		if n := st.reaps.Load(); n < 2 {
			return fmt.Errorf("%d reaps", n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestCachedTokenExpires checks that a token verified (and cached) before
// is refused once it expires, even while its session lives on.
func TestCachedTokenExpires(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) {
		cfg.TokenTTL = time.Minute
		cfg.SessionTTL = time.Hour
	})
	if err := d.AddUser(t.Context(), "ann", "pw"); err != nil {
		t.Fatal(err)
	}
	g, err := d.Login(t.Context(), directory.Credentials{Username: "ann", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Authenticate(t.Context(), g.Token); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(time.Minute)
	if _, err := d.Authenticate(t.Context(), g.Token); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("expired cached token = %v", err)
	}
}
