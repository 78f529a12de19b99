package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/reachproof"
)

// Reachability is what the dial-back found of a peer's advertise address.
type Reachability int

// Reachabilities.
const (
	// ReachUnknown: not checked (yet), or checked by another replica.
	ReachUnknown Reachability = iota
	// ReachDirect: the advertise address answered as the peer.
	ReachDirect
	// ReachUnreachable: it did not (or was not dialled: see DialBack).
	ReachUnreachable
)

// Defaults of the dial-back.
const (
	// DefaultDialBackTimeout bounds one dial-back: connect, ask, answer.
	DefaultDialBackTimeout = 3 * time.Second
	// DefaultDialBackConcurrency is how many dial-backs run at once; a
	// check that finds none free within its timeout stays unknown.
	DefaultDialBackConcurrency = 8
	// DefaultDialBackRecheck is how old a result may get before a
	// heartbeat checks again.
	DefaultDialBackRecheck = 5 * time.Minute
	// maxDialBackIPs bounds the addresses a host name may resolve to that
	// are compared with the login's.
	maxDialBackIPs = 16
)

// DialBack configures the reachability check (Config.DialBack). Zero
// fields take their defaults.
type DialBack struct {
	// Disabled turns the check off: every peer stays ReachUnknown.
	Disabled bool
	// Timeout bounds one check; DefaultDialBackTimeout if zero.
	Timeout time.Duration
	// Concurrency is how many checks run at once;
	// DefaultDialBackConcurrency if zero.
	Concurrency int
	// Recheck is how often a peer is checked again;
	// DefaultDialBackRecheck if zero.
	Recheck time.Duration
}

// reachRecord is the last check of one peer name.
type reachRecord struct {
	session, address string
	remote           netip.Addr   // the login's address: the only one dialled
	pin              identity.Pin // the key the login proved; "" for http://
	result           Reachability
	checked          time.Time // when the check ended; zero while it runs
	running          bool
}

// reacher runs dial-backs and keeps their results, per peer name, in
// this directory's memory (see docs/SECURITY.md: replicas each check the
// peers that log in to them).
type reacher struct {
	cfg DialBack
	sem chan struct{}
	now func() time.Time

	mu    sync.Mutex
	peers map[string]*reachRecord
}

// newReacher returns a reacher with cfg's defaults applied.
func newReacher(cfg DialBack, now func() time.Time) *reacher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultDialBackTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultDialBackConcurrency
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = DefaultDialBackRecheck
	}
	return &reacher{cfg: cfg, sem: make(chan struct{}, cfg.Concurrency), now: now, peers: map[string]*reachRecord{}}
}

// prune forgets the records not checked for two Recheck periods: a live
// peer's is checked again every period (recheckReach).
func (r *reacher) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, rec := range r.peers {
		if !rec.running && !rec.checked.IsZero() && now.Sub(rec.checked) > 2*r.cfg.Recheck {
			delete(r.peers, name)
		}
	}
}

// Reachability returns what the last dial-back found of peer at address,
// ReachUnknown if it was not checked at that address.
func (d *Directory) Reachability(peer, address string) Reachability {
	r := d.reach
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.peers[peer]
	if rec == nil || rec.address != address || rec.checked.IsZero() {
		return ReachUnknown
	}
	return rec.result
}

// SessionReachability is Reachability of a peer session, by its id.
func (d *Directory) SessionReachability(peer, sessionID string) Reachability {
	r := d.reach
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.peers[peer]
	if rec == nil || rec.session != sessionID || rec.checked.IsZero() {
		return ReachUnknown
	}
	return rec.result
}

// checkReach starts a dial-back of a peer session that just logged in
// from remote (host:port) with address, replacing any earlier record of
// the name.
func (d *Directory) checkReach(peer, sessionID, address, remote string, pin identity.Pin) {
	if d.reach.cfg.Disabled {
		return
	}
	ap, err := netip.ParseAddrPort(remote)
	rec := &reachRecord{session: sessionID, address: address, remote: ap.Addr().Unmap(), pin: pin}
	d.reach.mu.Lock()
	d.reach.peers[peer] = rec
	d.reach.mu.Unlock()
	if err != nil {
		// No address to compare the advertised one with: not dialled.
		d.reach.finish(rec, ReachUnreachable)
		return
	}
	d.reach.start(rec, d)
}

// recheckReach checks a peer session again if its result is older than
// Recheck (called on heartbeats).
func (d *Directory) recheckReach(peer, sessionID string) {
	r := d.reach
	r.mu.Lock()
	rec := r.peers[peer]
	due := rec != nil && rec.session == sessionID && !rec.running && !rec.checked.IsZero() && r.now().Sub(rec.checked) >= r.cfg.Recheck
	r.mu.Unlock()
	if due {
		r.start(rec, d)
	}
}

// start runs the dial-back of rec in the background.
func (r *reacher) start(rec *reachRecord, d *Directory) {
	r.mu.Lock()
	rec.running = true
	r.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
		defer cancel()
		result := ReachUnreachable
		select {
		case r.sem <- struct{}{}:
			err := dialBackRetrying(ctx, rec.address, rec.remote, rec.session, rec.pin)
			<-r.sem
			if err == nil {
				result = ReachDirect
			} else {
				d.log.Info("peer not reachable at its advertise address", "address", rec.address, "error", err)
			}
		case <-ctx.Done():
			d.log.Warn("dial-back skipped: too many running", "address", rec.address)
			result = ReachUnknown
		}
		r.finish(rec, result)
	}()
}

// finish records rec's result.
func (r *reacher) finish(rec *reachRecord, result Reachability) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.result, rec.checked, rec.running = result, r.now(), false
}

// errTooEarly is a peer's answer before it has read its login's answer:
// it does not know its session yet.
var errTooEarly = errors.New("the peer has no session to answer with yet")

// retryEarly is the wait before asking again a peer that answered too
// early.
const retryEarly = 200 * time.Millisecond

// dialBackRetrying is dialBack, asked again while the peer answers that
// it has no session yet (the dial-back starts as the login ends, and may
// reach the peer before the login's answer does), until ctx ends.
func dialBackRetrying(ctx context.Context, address string, remote netip.Addr, sessionID string, pin identity.Pin) error {
	for {
		err := dialBack(ctx, address, remote, sessionID, pin)
		if !errors.Is(err, errTooEarly) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryEarly):
		}
	}
}

// errNotDialled means the advertised host is not the login's address, so
// the directory did not dial it: it dials only the address a login came
// from, never one a client names to aim it at a third party.
var errNotDialled = errors.New("the advertised host is not the address the login came from; not dialled")

// dialBack connects to address (scheme://host:port) at the login's own
// address remote only, asks the peer's reach route with a fresh challenge,
// and checks the answer against sessionID. An https:// address must
// present the key the login proved (pin) before anything is sent: a
// server at the address with another key learns nothing, not even the
// challenge.
func dialBack(ctx context.Context, address string, remote netip.Addr, sessionID string, pin identity.Pin) error {
	u, err := url.Parse(address)
	if err != nil {
		return err
	}
	if u.Scheme == "https" && pin == "" {
		return errors.New("an https:// address without a key proved at login: not dialled")
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return fmt.Errorf("advertise address %s: no port", address)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", u.Hostname(), err)
	}
	var target netip.AddrPort
	for i, ip := range ips {
		if i == maxDialBackIPs {
			break
		}
		if ip.Unmap() == remote {
			target = netip.AddrPortFrom(remote, uint16(port))
			break
		}
	}
	if !target.IsValid() {
		return errNotDialled
	}
	challenge, err := reachproof.NewChallenge()
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if pin != "" {
		tlsConfig = identity.ClientConfig(pin)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP2(true)
	conns := newDialBackConns(ctx, target)
	// Runs before the caller frees this check's slot (see dialBackConns).
	defer conns.closeAll()
	t := &http.Transport{
		Protocols: &protocols,
		// The one address allowed, whatever the URL's host resolves to
		// now.
		DialContext: conns.dial,
		// The pin proves whose key is there; the answer, that it is
		// this session's peer.
		TLSClientConfig:   tlsConfig,
		DisableKeepAlives: true,
	}
	defer t.CloseIdleConnections()
	client := &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := url.URL{Scheme: u.Scheme, Host: u.Host, Path: reachproof.Path, RawQuery: url.Values{reachproof.ChallengeParam: {challenge}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ask.String(), nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusBadRequest {
		return errTooEarly
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", res.Status)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, reachproof.MaxAnswerLen))
	if err != nil {
		return err
	}
	if !reachproof.Check(sessionID, challenge, string(b)) {
		return errors.New("wrong answer to the challenge: another server is at that address")
	}
	return nil
}
