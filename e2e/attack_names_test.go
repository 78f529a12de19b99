package e2e_test

// Attacks on names, accounts and the directory's resources, each against a
// real directory and real peers on 127.0.0.1: name squatting, a login
// burst, a readable key file, an advertise address with a path, and quota
// overflow.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/private"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
)

// directoryFrom is a directory client whose connections come from the
// loopback address local (127.0.0.1 is the default; Linux routes all of
// 127.0.0.0/8 to the loopback interface), so a test can play clients at
// different addresses.
func directoryFrom(url, local string) directoryv1connect.DirectoryServiceClient {
	hc := rpcclient.NewHTTPClient()
	hc.Transport.(*http.Transport).DialContext = (&net.Dialer{
		Timeout:   rpcclient.DialTimeout,
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)},
	}).DialContext
	return directoryv1connect.NewDirectoryServiceClient(hc, url)
}

// rawLogin logs in as an attacker would, with a hand-made request.
func rawLogin(ctx context.Context, c directoryv1connect.DirectoryServiceClient, req *directoryv1.LoginRequest) (*directoryv1.LoginResponse, error) {
	res, err := c.Login(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// TestAttackNameSquatting: mallory, with an account of her own, tries to
// take the peer name "box" of alice's peer while it is offline, by a
// hand-made login and by starting a peer of that name. Both are refused;
// alice's peer comes back under its name, "peers" shows whose it is, and
// "put --to box" reaches alice's peer only ("--to mallory/box" sends
// nothing).
func TestAttackNameSquatting(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "mallory", "carol"}})
	c := client(t, n)
	box := n.AddPeer("box", testnet.PeerOptions{User: "alice", AcceptUploads: true})
	testutil.Eventually(t, 0, "alice's box online", func() error {
		if o := owners(t, c)["box"]; o != "alice" {
			return errors.New("box is " + o)
		}
		return nil
	})
	if err := box.Stop(); err != nil { // logs out: box is offline
		t.Fatal(err)
	}

	_, err := rawLogin(t.Context(), directoryFrom(n.DirectoryURL, "127.0.0.1"), &directoryv1.LoginRequest{
		Username: "mallory", Password: testnet.Password, AdvertiseAddress: "http://127.0.0.1:9", PeerName: "box",
	})
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("mallory's login as box while alice is offline: %v, want AlreadyExists", err)
	}
	// A real peer of mallory's under that name does not start either.
	squatter, err := peer.New(t.Context(), peer.Config{
		InsecurePlaintext: true,
		Share:             t.TempDir(), Name: "box", User: "mallory", Password: testnet.Password,
		Listen: "127.0.0.1:0", Directory: n.DirectoryURL, ShutdownGrace: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), testutil.DefaultWait)
	defer cancel()
	if err := squatter.Serve(ctx, ln); !errors.Is(err, session.ErrLogin) || !strings.Contains(err.Error(), "belongs to another account") {
		t.Fatalf("mallory's peer named box: %v, want a refused login", err)
	}

	// Alice's peer comes back under its name.
	n.AddPeer("box", testnet.PeerOptions{User: "alice", AcceptUploads: true, Share: box.Share})
	mbox := n.AddPeer("mbox", testnet.PeerOptions{User: "mallory", AcceptUploads: true})
	testutil.Eventually(t, 0, "box and mbox online", func() error {
		if o := owners(t, c); o["box"] != "alice" || o["mbox"] != "mallory" {
			return errors.New("peers: " + strings.Join([]string{o["box"], o["mbox"]}, ","))
		}
		return nil
	})
	code, out, errOut := runCLI(t, n.DirectoryURL, "carol", "peers")
	if code != 0 || !strings.Contains(out, "ACCOUNT") || !strings.Contains(out, "alice") || !strings.Contains(out, "mallory") {
		t.Errorf("peers: exit %d\n%s%s", code, out, errOut)
	}

	local := filepath.Join(t.TempDir(), "for-alice.txt")
	if err := os.WriteFile(local, []byte("for alice's eyes"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, n.DirectoryURL, "carol", "put", local, "--to", "box")
	if code != 0 || !strings.Contains(out, "account alice") {
		t.Fatalf("put --to box: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(box.Share, "for-alice.txt")); err != nil || string(b) != "for alice's eyes" {
		t.Errorf("alice's share: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(mbox.Share, "for-alice.txt")); err == nil {
		t.Error("the file reached mallory's peer")
	}
	// Pinning the account: a mismatch sends nothing.
	code, _, errOut = runCLI(t, n.DirectoryURL, "carol", "put", local, "--to", "mallory/box", "--as", "pinned.txt")
	if code == 0 || !strings.Contains(errOut, `belongs to account "alice"`) {
		t.Errorf("put --to mallory/box: exit %d, %s", code, errOut)
	}
	for _, share := range []string{box.Share, mbox.Share} {
		if _, err := os.Stat(filepath.Join(share, "pinned.txt")); err == nil {
			t.Errorf("put --to mallory/box stored a file in %s", share)
		}
	}
	if code, out, errOut := runCLI(t, n.DirectoryURL, "carol", "put", local, "--to", "alice/box", "--as", "pinned.txt"); code != 0 {
		t.Errorf("put --to alice/box: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAttackLoginBurst: an attacker at 127.0.0.1 fires a burst of wrong
// guesses at alice's account, all at once and more than one address may
// run; while they wait, alice logs in from 127.0.0.2 with her password. She
// gets in within the account's delay cap (measured, wall clock), the burst
// gets no success, and the guesses past the in-flight limit are refused.
func TestAttackLoginBurst(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	attacker := directoryFrom(n.DirectoryURL, "127.0.0.1")
	honest := directoryFrom(n.DirectoryURL, "127.0.0.2")
	const burst = 2 * directory.MaxLoginsInFlight
	burstCtx, stopBurst := context.WithCancel(t.Context())
	defer stopBurst()
	var mu sync.Mutex
	codes := map[connect.Code]int{} // connect.CodeOf(nil) is 0: a success
	var wg sync.WaitGroup
	start := time.Now()
	for i := range burst {
		wg.Go(func() {
			_, err := rawLogin(burstCtx, attacker, &directoryv1.LoginRequest{Username: "alice", Password: "guess-" + string(rune('a'+i))})
			mu.Lock()
			codes[connect.CodeOf(err)]++
			mu.Unlock()
		})
	}
	// Wait until the burst's free guesses are spent and the rest wait in
	// the throttle (or were refused).
	testutil.Eventually(t, 0, "the burst under way", func() error {
		mu.Lock()
		defer mu.Unlock()
		if codes[connect.CodeUnauthenticated] < directory.FreeLoginFailures || codes[connect.CodeResourceExhausted] == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	burstAge := time.Since(start)
	t0 := time.Now()
	res, err := rawLogin(t.Context(), honest, &directoryv1.LoginRequest{Username: "alice", Password: testnet.Password})
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("alice's own login during the attack: %v (after %v)", err, took)
	}
	// Bounded: the account's cap, plus time for bcrypt and the round trip.
	if limit := directory.MaxAccountLoginDelay + 3*time.Second; took > limit {
		t.Errorf("alice's login took %v during the attack, more than %v", took, limit)
	}
	t.Logf("measured: alice logged in from another address in %v, %v into a burst of %d parallel guesses", took.Round(time.Millisecond), burstAge.Round(time.Millisecond), burst)
	if res.GetToken() == "" {
		t.Error("no token")
	}
	stopBurst()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("burst outcomes: %d wrong password, %d refused (too many at once), %d cancelled while waiting",
		codes[connect.CodeUnauthenticated], codes[connect.CodeResourceExhausted], codes[connect.CodeCanceled])
	if codes[0] != 0 {
		t.Errorf("a wrong guess logged in")
	}
	// The refused guesses never reached bcrypt. At most MaxLoginsInFlight
	// were checked or waiting at once; each guess that ended (a wrong
	// password) freed its place for a later one, so over the whole burst
	// at most MaxLoginsInFlight plus those got past the limit.
	if got := burst - codes[connect.CodeResourceExhausted]; got > directory.MaxLoginsInFlight+codes[connect.CodeUnauthenticated] {
		t.Errorf("%d guesses got past the in-flight limit of %d", got, directory.MaxLoginsInFlight)
	}
}

// TestAttackReadableKeyFile: the directory's database (its token signing
// key, the password hashes) made 0644 behind its back: the directory
// refuses to start, naming the chmod that fixes it, and starts once fixed.
func TestAttackReadableKeyFile(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	db := filepath.Join(n.DataDir(), server.DatabaseFile)
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(n.DataDir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data folder: %v, %v; want mode 0700", fi.Mode(), err)
	}
	n.StopDirectory()
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	err := n.TryStartDirectory()
	if !errors.Is(err, private.ErrExposed) || !strings.Contains(err.Error(), "chmod 600 "+db) {
		t.Fatalf("start on a 0644 database: %v, want a refusal naming chmod 600 %s", err, db)
	}
	if err := os.Chmod(db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.TryStartDirectory(); err != nil {
		t.Fatalf("start once fixed: %v", err)
	}
}

// TestAttackAdvertisePath: a peer advertises a URL with a path and query,
// so that every client would POST its requests (and tokens) to a URL of
// its choosing: the login is refused with InvalidArgument, over Connect and
// over REST, and the peer is never listed.
func TestAttackAdvertisePath(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	c := directoryFrom(n.DirectoryURL, "127.0.0.1")
	for _, addr := range []string{
		"http://127.0.0.1:9/collect?from=",
		"http://127.0.0.1:9/x",
		"http://127.0.0.1:9#frag",
		"http://alice:pw@127.0.0.1:9",
	} {
		_, err := rawLogin(t.Context(), c, &directoryv1.LoginRequest{Username: "alice", Password: testnet.Password, AdvertiseAddress: addr, PeerName: "evil"})
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("advertise %q: %v, want InvalidArgument", addr, err)
		}
		body := `{"username":"alice","password":"` + testnet.Password + `","advertiseAddress":"` + addr + `","peerName":"evil"}`
		res, err := http.Post(n.DirectoryURL+"/v1/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("REST login advertising %q: %s, want 400", addr, res.Status)
		}
	}
	if o := owners(t, client(t, n)); o["evil"] != "" {
		t.Errorf("a peer with a bad address is listed: %v", o)
	}
}

// TestAttackQuotaOverflow: one account opens sessions, publishes files
// across peers and uploads bytes past each quota: ResourceExhausted, with
// the limit in the message, and nothing past the limit is kept.
func TestAttackQuotaOverflow(t *testing.T) {
	t.Parallel()
	const maxSessions, maxFiles = 3, 4
	n := testnet.Start(t, testnet.Options{
		Users:     []string{"alice", "sessions", "files", "uploader"},
		Directory: directory.Config{MaxAccountSessions: maxSessions, MaxAccountFiles: maxFiles},
	})
	c := directoryFrom(n.DirectoryURL, "127.0.0.1")
	observer := client(t, n) // alice's one session
	login := func(user, addr, name string) (string, error) {
		res, err := rawLogin(t.Context(), c, &directoryv1.LoginRequest{Username: user, Password: testnet.Password, AdvertiseAddress: addr, PeerName: name})
		return res.GetToken(), err
	}

	t.Run("sessions per account", func(t *testing.T) {
		for i := range maxSessions {
			if _, err := login("sessions", "", ""); err != nil {
				t.Fatalf("session %d: %v", i+1, err)
			}
		}
		_, err := login("sessions", "", "")
		if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "3") {
			t.Errorf("session %d: %v, want ResourceExhausted naming %d", maxSessions+1, err, maxSessions)
		}
		// Other accounts are not affected.
		if _, err := login("files", "", ""); err != nil {
			t.Errorf("another account meanwhile: %v", err)
		}
	})

	t.Run("files per account", func(t *testing.T) {
		publish := func(tok string, names ...string) error {
			var files []*directoryv1.FileEntry
			for _, name := range names {
				files = append(files, fileEntry(name, name))
			}
			var bearer rpcclient.Token
			bearer.Set(tok)
			pc := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), n.DirectoryURL, rpcclient.Options(&bearer)...)
			_, err := pc.Publish(t.Context(), connect.NewRequest(&directoryv1.PublishRequest{
				Change: &directoryv1.PublishRequest_Snapshot{Snapshot: &directoryv1.Snapshot{Files: files}},
			}))
			return err
		}
		first, err := login("files", "http://127.0.0.1:9", "files-1")
		if err != nil {
			t.Fatal(err)
		}
		second, err := login("files", "http://127.0.0.1:10", "files-2")
		if err != nil {
			t.Fatal(err)
		}
		if err := publish(first, "a", "b", "c"); err != nil {
			t.Fatal(err)
		}
		err = publish(second, "d", "e")
		if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "at most 4 files") {
			t.Errorf("publish past the account's files: %v, want ResourceExhausted naming %d", err, maxFiles)
		}
		if err := publish(second, "d"); err != nil {
			t.Errorf("publish up to the account's files: %v", err)
		}
	})

	t.Run("upload bytes per peer", func(t *testing.T) {
		const size, total = 1000, 2500
		target := n.AddPeer("inbox", testnet.PeerOptions{AcceptUploads: true, MaxUploadSize: size, MaxUploadTotal: total})
		testutil.Eventually(t, 0, "inbox online", func() error {
			if owners(t, observer)["inbox"] == "" {
				return errors.New("not yet")
			}
			return nil
		})
		dir := t.TempDir()
		for i, name := range []string{"one.bin", "two.bin", "three.bin"} {
			local := filepath.Join(dir, name)
			if err := os.WriteFile(local, bytes.Repeat([]byte{byte('a' + i)}, size), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, n.DirectoryURL, "uploader", "put", local, "--to", "inbox")
			if i < 2 {
				if code != 0 {
					t.Fatalf("upload %d: exit %d\n%s%s", i+1, code, out, errOut)
				}
				continue
			}
			if code == 0 || !strings.Contains(errOut, "at most 2.4 KiB of uploads in total") {
				t.Errorf("upload past the peer's total: exit %d\n%s%s", code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(target.Share, name)); err == nil {
				t.Errorf("%s was stored past the total", name)
			}
		}
	})
}
