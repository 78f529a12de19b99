package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/store"
)

// TestLoginBurst runs a burst of wrong guesses for one account from one
// address at once (after the free ones), and while they all wait, the right
// password from another address: it gets in after at most
// MaxAccountLoginDelay (time as the throttle asks to wait, measured on an
// injected sleeper), while the burst's guesses wait as long as sequential
// ones would, and one guess more is refused.
func TestLoginBurst(t *testing.T) {
	t.Parallel()
	c := newClock()
	type honestKey struct{}
	gate := make(chan struct{})
	var mu sync.Mutex
	var burstWaits []time.Duration
	var honestWait time.Duration
	blocked := make(chan struct{}, directory.MaxLoginsInFlight)
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) {
		cfg.Sleep = func(ctx context.Context, dur time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			if ctx.Value(honestKey{}) != nil {
				honestWait += dur
				return nil
			}
			burstWaits = append(burstWaits, dur)
			blocked <- struct{}{}
			mu.Unlock()
			<-gate // the guesses stay in flight until the honest login is done
			mu.Lock()
			return nil
		}
	})
	ctx := t.Context()
	if err := d.AddUser(ctx, "ann", "right"); err != nil {
		t.Fatal(err)
	}
	var release sync.Once
	open := func() { release.Do(func() { close(gate) }) }
	t.Cleanup(open)
	guess := func(i int) error {
		_, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: fmt.Sprint("guess", i), RemoteAddr: "192.0.2.1:4000"})
		return err
	}
	for i := range directory.FreeLoginFailures {
		if err := guess(i); !errors.Is(err, directory.ErrUnauthenticated) {
			t.Fatalf("free guess %d = %v", i, err)
		}
	}
	const burst = directory.MaxLoginsInFlight
	errs := make(chan error, burst)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() { errs <- guess(directory.FreeLoginFailures + i) })
	}
	// Every guess of the burst waits in the sleeper.
	for range burst {
		select {
		case <-blocked:
		case <-time.After(testutil.DefaultWait):
			t.Fatal("the burst's guesses did not all reach the throttle")
		}
	}
	// One more guess from that address is refused outright.
	if _, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "guess", RemoteAddr: "192.0.2.1:4001"}); !errors.Is(err, directory.ErrTooManyAttempts) {
		t.Errorf("a guess past the in-flight limit = %v, want ErrTooManyAttempts", err)
	}
	g, err := d.Login(context.WithValue(ctx, honestKey{}, true), directory.Credentials{Username: "ann", Password: "right", RemoteAddr: "198.51.100.7:5000"})
	if err != nil {
		t.Fatalf("honest login during the burst: %v", err)
	}
	if _, err := d.Authenticate(ctx, g.Token); err != nil {
		t.Errorf("honest token: %v", err)
	}
	mu.Lock()
	if honestWait > directory.MaxAccountLoginDelay {
		t.Errorf("honest login waited %v, more than %v", honestWait, directory.MaxAccountLoginDelay)
	}
	t.Logf("honest login waited %v during a burst of %d guesses", honestWait, burst)
	mu.Unlock()
	open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, directory.ErrUnauthenticated) {
			t.Errorf("guess = %v, want ErrUnauthenticated", err)
		}
	}
	var total time.Duration
	for _, w := range burstWaits {
		total += w
	}
	// The burst waited what the same guesses in a row wait: 250ms
	// doubling after three free ones, at most MaxAddressLoginDelay each.
	var want time.Duration
	for i := directory.FreeLoginFailures; i < directory.FreeLoginFailures+burst; i++ {
		want += min(directory.LoginDelayBase<<(i-directory.FreeLoginFailures), directory.MaxAddressLoginDelay)
	}
	if total != want {
		t.Errorf("the burst's waits add up to %v (%v), want %v", total, burstWaits, want)
	}
}

// TestPasswordLength refuses passwords bcrypt would cut, at login as at
// account creation.
func TestPasswordLength(t *testing.T) {
	t.Parallel()
	d := newDir(t, newStore(t), newClock())
	ctx := t.Context()
	long := strings.Repeat("p", directory.MaxPasswordBytes)
	if err := d.AddUser(ctx, "ann", long); err != nil {
		t.Fatalf("AddUser with %d bytes: %v", len(long), err)
	}
	if err := d.AddUser(ctx, "bob", long+"x"); !errors.Is(err, directory.ErrInvalidArgument) {
		t.Errorf("AddUser with %d bytes = %v, want ErrInvalidArgument", len(long)+1, err)
	}
	if _, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: long}); err != nil {
		t.Errorf("login with %d bytes: %v", len(long), err)
	}
	// bcrypt alone would accept this: its first 72 bytes match.
	_, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: long + "anything"})
	if !errors.Is(err, directory.ErrInvalidArgument) || !strings.Contains(err.Error(), "72") {
		t.Errorf("login with %d bytes = %v, want ErrInvalidArgument naming the limit", len(long)+8, err)
	}
}

// TestPeerNamesBound: a peer name belongs to the account that first used
// it, online or not, until its owner or an administrator releases it or the
// account is removed.
func TestPeerNamesBound(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c)
	ctx := t.Context()
	addUsers(t, d, "ann", "bob")
	var lastToken string
	login := func(user, name string) (token.Claims, error) {
		g, err := d.Login(ctx, directory.Credentials{Username: user, Password: "pw", AdvertiseAddress: "http://10.0.0.1:8001", PeerName: name})
		if err != nil {
			return token.Claims{}, err
		}
		lastToken = g.Token
		return d.Authenticate(ctx, g.Token)
	}
	client := func(user string) token.Claims {
		g, err := d.Login(ctx, directory.Credentials{Username: user, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := d.Authenticate(ctx, g.Token)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	annPeer, err := login("ann", "box")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := login("bob", "box"); !errors.Is(err, directory.ErrAlreadyExists) {
		t.Errorf("bob taking ann's online name = %v", err)
	}
	if err := d.Logout(ctx, annPeer, ""); err != nil {
		t.Fatal(err)
	}
	_, err = login("bob", "box")
	if !errors.Is(err, directory.ErrAlreadyExists) || !strings.Contains(err.Error(), "belongs to another account") {
		t.Errorf("bob taking ann's offline name = %v", err)
	}
	if err := d.ReleasePeerName(ctx, client("bob"), "box"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("bob releasing ann's name = %v", err)
	}
	annPeer, err = login("ann", "box")
	if err != nil {
		t.Fatalf("ann back: %v", err)
	}
	if err := d.ReleasePeerName(ctx, client("ann"), "box"); !errors.Is(err, directory.ErrInUse) {
		t.Errorf("releasing an online peer's name = %v, want ErrInUse", err)
	}
	if err := d.Logout(ctx, annPeer, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.ReleasePeerName(ctx, client("ann"), "box"); err != nil {
		t.Errorf("ann releasing her offline name: %v", err)
	}
	if _, err := login("bob", "box"); err != nil {
		t.Fatalf("bob claiming a released name: %v", err)
	}
	bobToken := lastToken
	// An administrator releases it even while online: the peer is logged
	// out.
	owner, err := d.ForceReleasePeerName(ctx, "box")
	if err != nil || owner != "bob" {
		t.Errorf("ForceReleasePeerName = %q, %v", owner, err)
	}
	if _, err := d.Authenticate(ctx, bobToken); !errors.Is(err, directory.ErrUnauthenticated) {
		t.Errorf("released peer's session still live: %v", err)
	}
	if _, err := d.ForceReleasePeerName(ctx, "box"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("releasing a free name = %v", err)
	}
	// Removing an account releases its names.
	if _, err := login("bob", "shed"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := login("ann", "shed"); err != nil {
		t.Errorf("ann claiming a removed account's name: %v", err)
	}
}

// TestAccountQuotas: sessions per account and files per account across its
// peers, refused with ErrLimit and a message that names the limit.
func TestAccountQuotas(t *testing.T) {
	t.Parallel()
	c := newClock()
	d := newDir(t, newStore(t), c, func(cfg *directory.Config) {
		cfg.MaxAccountSessions = 3
		cfg.MaxAccountFiles = 4
	})
	ctx := t.Context()
	if err := d.AddUser(ctx, "ann", "pw"); err != nil {
		t.Fatal(err)
	}
	var peers []token.Claims
	for _, name := range []string{"p1", "p2"} {
		g, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: "http://10.0.0.1:8001", PeerName: name})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := d.Authenticate(ctx, g.Token)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, cl)
	}
	if _, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw"}); err != nil {
		t.Fatalf("third session: %v", err)
	}
	_, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw"})
	if !errors.Is(err, directory.ErrLimit) || !strings.Contains(err.Error(), "3") {
		t.Errorf("fourth session = %v, want ErrLimit naming 3", err)
	}
	if _, err := d.Publish(ctx, peers[0], directory.Change{Snapshot: true, Added: []store.File{file("a"), file("b"), file("c")}}); err != nil {
		t.Fatal(err)
	}
	_, err = d.Publish(ctx, peers[1], directory.Change{Added: []store.File{file("d"), file("e")}})
	if !errors.Is(err, directory.ErrLimit) || !strings.Contains(err.Error(), "at most 4 files") {
		t.Errorf("publish over the account's files = %v, want ErrLimit naming 4", err)
	}
	if n, err := d.Publish(ctx, peers[1], directory.Change{Added: []store.File{file("d")}}); err != nil || n != 1 {
		t.Errorf("publish up to the account's files = %d, %v", n, err)
	}
}

// TestAdvertiseAddress refuses anything but scheme, host and port.
func TestAdvertiseAddress(t *testing.T) {
	t.Parallel()
	d := newDir(t, newStore(t), newClock())
	ctx := t.Context()
	if err := d.AddUser(ctx, "ann", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"http://10.0.0.1:8001/collect", "http://10.0.0.1:8001?x=1", "http://10.0.0.1:8001#f", "http://u:p@10.0.0.1:8001"} {
		if _, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: addr}); !errors.Is(err, directory.ErrInvalidArgument) {
			t.Errorf("advertise %q = %v, want ErrInvalidArgument", addr, err)
		}
	}
	if _, err := d.Login(ctx, directory.Credentials{Username: "ann", Password: "pw", AdvertiseAddress: "http://peer.example:8443/"}); err != nil {
		t.Errorf("a good address: %v", err)
	}
}
