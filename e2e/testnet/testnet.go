// Package testnet starts real peerhub networks for tests: a directory and
// any number of peers, each on its own 127.0.0.1 port with its own shared
// folder in a temporary directory, in the test's process. Tests stop,
// restart and kill parts of it to check what users would see.
//
// It lives under e2e/ because it is the one package that joins both roles
// (server and peer): the layering lets only cli/ and e2e/ do that, so only
// their tests may import it (internal/layering checks).
package testnet

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/relay"
)

// Password is the password of every account a Network creates.
const Password = "correct horse battery staple"

// Options configure a Network.
type Options struct {
	// Heartbeat is the directory's heartbeat interval; 1s if zero.
	Heartbeat time.Duration
	// Store is the directory's store; sqlite if empty.
	Store string
	// Users are accounts to create besides one per peer; "alice" if nil.
	Users []string
	// TransferTTL is the life of the directory's transfer and read tokens
	// (directory.Config.TransferTTL); its default if zero.
	TransferTTL time.Duration
	// Logger receives every component's logs; discarded if nil. Set
	// PEERHUB_TEST_LOG=1 to log to stderr.
	Logger *slog.Logger
	// Directory adjusts the directory's settings (quotas, limits); its
	// PasswordCost is bcrypt.MinCost unless set.
	Directory directory.Config
	// Relay configures the directory's relay.
	Relay relay.Config
	// TLS runs the directory and every peer as they run by default: over
	// TLS with generated keys, the peers' pins vouched for by the
	// directory, and DirectoryURL carrying the directory's pin. Without
	// it they serve cleartext (--insecure-plaintext), which the tests
	// that speak raw HTTP/2 to them need.
	TLS bool
}

// Network is a running directory and its peers.
type Network struct {
	t    testing.TB
	opts Options
	log  *slog.Logger
	data string

	// peerOrigins are the origins of the peers started, which the
	// directory lets call it from a browser (a peer's dashboard logs in
	// at the directory).
	peerOrigins sync.Map // of string to struct{}

	mu           sync.Mutex
	addr         string // the directory's host:port, kept across restarts
	srv          *server.Server
	dirStop      context.CancelFunc
	dirDone      chan struct{}
	DirectoryURL string
}

// Start starts a directory with the given users. Peers are added with
// AddPeer. Everything stops when the test ends.
func Start(t testing.TB, o Options) *Network {
	t.Helper()
	if o.Heartbeat == 0 {
		o.Heartbeat = time.Second
	}
	if o.Store == "" {
		o.Store = server.StoreSQLite
	}
	if o.Users == nil {
		o.Users = []string{"alice"}
	}
	if o.Logger == nil {
		if os.Getenv("PEERHUB_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		} else {
			o.Logger = slog.New(slog.DiscardHandler)
		}
	}
	n := &Network{t: t, opts: o, log: o.Logger, data: t.TempDir(), addr: "127.0.0.1:0"}
	n.StartDirectory()
	for _, u := range o.Users {
		n.AddUser(u)
	}
	t.Cleanup(n.StopDirectory)
	return n
}

// AddUser creates an account with Password.
func (n *Network) AddUser(name string) {
	n.t.Helper()
	n.mu.Lock()
	s := n.srv
	n.mu.Unlock()
	if s == nil {
		n.t.Fatalf("add user %s: the directory is not running", name)
	}
	if err := s.Directory().AddUser(context.Background(), name, Password); err != nil && !errors.Is(err, directory.ErrAlreadyExists) {
		n.t.Fatalf("add user %s: %v", name, err)
	}
}

func (n *Network) serverConfig() server.Config {
	dc := n.opts.Directory
	if dc.PasswordCost == 0 {
		// The lowest bcrypt cost: tests log in often, under -race.
		dc.PasswordCost = bcrypt.MinCost
	}
	if n.opts.TransferTTL != 0 {
		dc.TransferTTL = n.opts.TransferTTL
	}
	return server.Config{
		Listen:            n.addr,
		Data:              n.DataDir(),
		Store:             n.opts.Store,
		Heartbeat:         n.opts.Heartbeat,
		ShutdownGrace:     time.Second,
		Directory:         dc,
		Relay:             n.opts.Relay,
		InsecurePlaintext: !n.opts.TLS,
		CORS: rpcserver.CORS{Allow: func(origin string) bool {
			_, ok := n.peerOrigins.Load(origin)
			return ok
		}},
	}
}

// SetHeartbeat changes the directory's heartbeat interval from its next
// start (StartDirectory after StopDirectory): an operator restarting it
// with another --heartbeat.
func (n *Network) SetHeartbeat(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opts.Heartbeat = d
}

// DataDir is the directory's data folder (of the sqlite store).
func (n *Network) DataDir() string { return filepath.Join(n.data, "directory") }

// TryStartDirectory starts the directory like StartDirectory, but returns
// the error of a directory that refuses to start instead of failing the
// test.
func (n *Network) TryStartDirectory() error {
	s, err := server.New(context.Background(), n.serverConfig(), n.log.With("role", "directory"))
	if err != nil {
		return err
	}
	s.Close()
	n.StartDirectory()
	return nil
}

// StartDirectory starts (or restarts, on the same port and data) the
// directory.
func (n *Network) StartDirectory() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dirStop != nil {
		n.t.Fatal("directory already running")
	}
	s, err := server.New(context.Background(), n.serverConfig(), n.log.With("role", "directory"))
	if err != nil {
		n.t.Fatalf("start directory: %v", err)
	}
	var ln net.Listener
	defer func() { // the store, if Eventually gives up
		if ln == nil {
			s.Close()
		}
	}()
	// On a restart the old listener's port may take a moment to free.
	testutil.Eventually(n.t, 0, "directory listen on "+n.addr, func() error {
		var err error
		ln, err = s.Listen(context.Background())
		return err
	})
	n.addr = ln.Addr().String()
	// With TLS, the URL carries the directory's pin: clients trust it
	// without a known-hosts file.
	n.DirectoryURL = s.PinnedURL(ln)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx, ln); err != nil {
			n.log.Error("directory stopped", "error", err)
		}
		s.Close()
	}()
	n.dirStop, n.dirDone, n.srv = cancel, done, s
}

// StopDirectory stops the directory and waits until it has.
func (n *Network) StopDirectory() {
	n.mu.Lock()
	stop, done := n.dirStop, n.dirDone
	n.dirStop, n.dirDone, n.srv = nil, nil, nil
	n.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-done
}

// SignToken signs c for ttl from now with the directory's newest signing
// key, read from its store (sqlite only): a token the directory itself
// would never issue, for tests of what peers refuse even from their own
// directory.
func (n *Network) SignToken(c token.Claims, ttl time.Duration) string {
	n.t.Helper()
	if n.opts.Store != server.StoreSQLite {
		n.t.Fatalf("SignToken reads the keys of a sqlite store, not of %q", n.opts.Store)
	}
	st, err := server.OpenStore(context.Background(), n.serverConfig())
	if err != nil {
		n.t.Fatalf("open the directory's store: %v", err)
	}
	defer st.Close()
	keys, err := st.SigningKeys(context.Background())
	if err != nil || len(keys) == 0 {
		n.t.Fatalf("signing keys: %v (%d)", err, len(keys))
	}
	raw, _, err := token.NewSigner(keys[0].ID, keys[0].Private, token.DefaultIssuer).Sign(c, time.Now(), ttl)
	if err != nil {
		n.t.Fatal(err)
	}
	return raw
}

// PeerOptions configure one peer.
type PeerOptions struct {
	// Files are written into the shared folder before the peer starts:
	// name (slash-separated) to content.
	Files map[string][]byte
	// AcceptUploads, MaxRate (bytes/s), MaxUploadSize and MaxUploadTotal
	// as in peer.Config.
	AcceptUploads  bool
	MaxRate        int64
	MaxUploadSize  int64
	MaxUploadTotal int64
	// User is the account the peer logs in with, created if needed; the
	// peer's name if empty.
	User string
	// Share reuses a folder (e.g. of a stopped peer); a new one if empty.
	Share string
	// CORS as in peer.Config.
	CORS rpcserver.CORS
	// Advertise is the URL the peer logs in with (peer.Config.Advertise),
	// e.g. a front that forwards to Peer.URL; Peer.URL if empty.
	Advertise string
	// StallTimeout, MaxTransfersPerAccount and MaxTransfersPerAddress as
	// in peer.Config.
	StallTimeout                                   time.Duration
	MaxTransfersPerAccount, MaxTransfersPerAddress int
	// Relay is peer.Config.Relay (auto if empty).
	Relay string
	// TLSCert and TLSKey as in peer.Config: the peer serves TLS.
	TLSCert, TLSKey string
	// Settle as in peer.Config; DefaultSettle if zero.
	Settle time.Duration
	// UploadFolder opens the shared folder (its path) as uploads write to
	// it (peer.Config.UploadFolder), e.g. an outfs.Faulty; the real one if
	// nil.
	UploadFolder func(share string) (outfs.Folder, error)
}

// DefaultSettle is the settle time of test peers unless PeerOptions.Settle
// says otherwise: the product's (seconds) would slow every test that adds a
// file to a running peer.
const DefaultSettle = 300 * time.Millisecond

// Peer is one running peer.
type Peer struct {
	// Name is the peer's name (and its account's, unless
	// PeerOptions.User names another).
	Name string
	// URL is where it serves PeerService.
	URL string
	// Share is its shared folder.
	Share string
	// Daemon is the running peer.
	Daemon *peer.Peer

	stop context.CancelFunc
	done chan error
}

// AddPeer creates the account (opts.User, else name) unless opts.Share
// reuses a folder, and starts a peer sharing a new folder with
// opts.Files. It returns once the peer serves; its first publish may still
// be under way (wait with testutil.Eventually).
func (n *Network) AddPeer(name string, opts PeerOptions) *Peer {
	n.t.Helper()
	user := opts.User
	if user == "" {
		user = name
	}
	share := opts.Share
	if share == "" {
		share = filepath.Join(n.t.TempDir(), name)
		n.AddUser(user)
	}
	for fname, b := range opts.Files {
		path := filepath.Join(share, filepath.FromSlash(fname))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			n.t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			n.t.Fatal(err)
		}
	}
	var upfs outfs.Folder
	if opts.UploadFolder != nil {
		if err := os.MkdirAll(share, 0o755); err != nil {
			n.t.Fatal(err)
		}
		f, err := opts.UploadFolder(share)
		if err != nil {
			n.t.Fatal(err)
		}
		n.t.Cleanup(func() { f.Close() })
		upfs = f
	}
	p, err := peer.New(context.Background(), peer.Config{
		Share: share, Name: name, User: user, Password: Password,
		Listen: "127.0.0.1:0", Directory: n.DirectoryURL, InsecurePlaintext: !n.opts.TLS && opts.TLSCert == "",
		AcceptUploads: opts.AcceptUploads, MaxRate: opts.MaxRate, MaxUploadSize: opts.MaxUploadSize,
		MaxUploadTotal: opts.MaxUploadTotal,
		ShutdownGrace:  time.Second, CORS: opts.CORS, Advertise: opts.Advertise,
		StallTimeout: opts.StallTimeout, Settle: cmp.Or(opts.Settle, DefaultSettle), MaxTransfersPerAccount: opts.MaxTransfersPerAccount, MaxTransfersPerAddress: opts.MaxTransfersPerAddress,
		Relay: opts.Relay, TLSCert: opts.TLSCert, TLSKey: opts.TLSKey, UploadFolder: upfs,
	}, n.log.With("role", "peer", "peer", name))
	if err != nil {
		n.t.Fatalf("start peer %s: %v", name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	scheme := "http://"
	if n.opts.TLS || opts.TLSCert != "" {
		scheme = "https://"
	}
	pr := &Peer{URL: scheme + ln.Addr().String(), Share: share, Daemon: p, stop: cancel, done: make(chan error, 1)}
	n.peerOrigins.Store(pr.URL, struct{}{})
	go func() { pr.done <- errors.Join(p.Serve(ctx, ln), p.Close()) }()
	n.t.Cleanup(func() { pr.Stop() })
	return pr
}

// Stop shuts the peer down gracefully (it logs out) and returns Serve's
// error.
func (p *Peer) Stop() error {
	if p.stop == nil {
		return nil
	}
	p.stop()
	p.stop = nil
	err := <-p.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
