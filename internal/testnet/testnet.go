// Package testnet starts real peerhub networks for tests: a directory and
// any number of peers, each on its own 127.0.0.1 port with its own shared
// folder in a temporary directory, in the test's process. Tests stop,
// restart and kill parts of it to check what users would see.
package testnet

import (
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
	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
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
	// Logger receives every component's logs; discarded if nil. Set
	// PEERHUB_TEST_LOG=1 to log to stderr.
	Logger *slog.Logger
}

// Network is a running directory and its peers.
type Network struct {
	t    testing.TB
	opts Options
	log  *slog.Logger
	data string

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
	if err := s.Directory().AddUser(context.Background(), name, Password); err != nil {
		n.t.Fatalf("add user %s: %v", name, err)
	}
}

func (n *Network) serverConfig() server.Config {
	return server.Config{
		Listen:        n.addr,
		Data:          filepath.Join(n.data, "directory"),
		Store:         n.opts.Store,
		Heartbeat:     n.opts.Heartbeat,
		ShutdownGrace: time.Second,
		// The lowest bcrypt cost: tests log in often, under -race.
		Directory: directory.Config{PasswordCost: bcrypt.MinCost},
	}
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
	for i := range 50 { // the old listener's port may take a moment to free
		ln, err = s.Listen(context.Background())
		if err == nil {
			break
		}
		time.Sleep(time.Duration(i+1) * 20 * time.Millisecond)
	}
	if err != nil {
		s.Close()
		n.t.Fatalf("directory listen: %v", err)
	}
	n.addr = ln.Addr().String()
	n.DirectoryURL = s.URL(ln)
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

// PeerOptions configure one peer.
type PeerOptions struct {
	// Files are written into the shared folder before the peer starts:
	// name (slash-separated) to content.
	Files map[string][]byte
	// AcceptUploads, MaxRate (bytes/s) and MaxUploadSize as in peer.Config.
	AcceptUploads bool
	MaxRate       int64
	MaxUploadSize int64
	// Share reuses a folder (e.g. of a stopped peer); a new one if empty.
	Share string
	// CORS as in peer.Config.
	CORS rpcserver.CORS
	// StallTimeout, MaxTransfersPerAccount and MaxTransfersPerAddress as
	// in peer.Config.
	StallTimeout                                   time.Duration
	MaxTransfersPerAccount, MaxTransfersPerAddress int
}

// Peer is one running peer.
type Peer struct {
	// Name is the peer's (and its account's) name.
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

// AddPeer creates the account name (if needed) and starts a peer sharing a
// new folder with opts.Files. It returns once the peer serves; its first
// publish may still be under way (see WaitFor).
func (n *Network) AddPeer(name string, opts PeerOptions) *Peer {
	n.t.Helper()
	share := opts.Share
	if share == "" {
		share = filepath.Join(n.t.TempDir(), name)
		n.AddUser(name)
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
	p, err := peer.New(context.Background(), peer.Config{
		Share: share, Name: name, User: name, Password: Password,
		Listen: "127.0.0.1:0", Directory: n.DirectoryURL,
		AcceptUploads: opts.AcceptUploads, MaxRate: opts.MaxRate, MaxUploadSize: opts.MaxUploadSize,
		ShutdownGrace: time.Second, CORS: opts.CORS,
		StallTimeout: opts.StallTimeout, MaxTransfersPerAccount: opts.MaxTransfersPerAccount, MaxTransfersPerAddress: opts.MaxTransfersPerAddress,
	}, n.log.With("role", "peer", "peer", name))
	if err != nil {
		n.t.Fatalf("start peer %s: %v", name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr := &Peer{Name: name, URL: "http://" + ln.Addr().String(), Share: share, Daemon: p, stop: cancel, done: make(chan error, 1)}
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

// WaitFor polls cond every 20ms until it is true or timeout passes, and
// reports whether it became true.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
