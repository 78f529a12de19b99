package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/reachproof"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/webui"
	"github.com/peerhub/peerhub/peer/httpfiles"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

// Peer is a peer daemon: its shared folder's index, the transfer service
// over it, and (while Serve runs) its session with the directory. Create it
// with New, open its listener with Listen, run it with Serve, and Close it
// after Serve returns, as a directory's server.Server.
type Peer struct {
	cfg      Config
	log      *slog.Logger
	index    *index.Index
	transfer *transfer.Service
	// cert is the TLS identity served; nil with InsecurePlaintext.
	cert *tls.Certificate

	closeOnce sync.Once
	closeErr  error
}

// New prepares a peer: it seeds and indexes the shared folder (hashing only
// what changed since the last run). It does not listen yet.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Peer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Share, 0o755); err != nil {
		return nil, fmt.Errorf("create shared folder: %w", err)
	}
	if cfg.SeedFrom != "" {
		if err := seed(cfg.Share, cfg.SeedFrom, log); err != nil {
			return nil, err
		}
	}
	ix, err := index.Open(ctx, index.Options{Dir: cfg.Share, StateDir: cfg.State, ShareHidden: cfg.ShareHidden, Settle: cfg.Settle, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	if _, err := ix.Scan(ctx); err != nil {
		ix.Close()
		return nil, fmt.Errorf("index %s: %w", cfg.Share, err)
	}
	log.Info("indexed shared folder", "share", cfg.Share, "files", len(ix.Snapshot()), "hashed", ix.Hashed())
	svc, err := transfer.New(transfer.Options{
		Catalog:        ix,
		Root:           ix.Root(),
		MaxTransfers:   cfg.MaxTransfers,
		MaxPerAccount:  cfg.MaxTransfersPerAccount,
		MaxPerAddress:  cfg.MaxTransfersPerAddress,
		MaxRate:        cfg.MaxRate,
		AcceptUploads:  cfg.AcceptUploads,
		MaxUploadSize:  cfg.MaxUploadSize,
		MaxUploadTotal: cfg.MaxUploadTotal,
		Folder:         cfg.UploadFolder,
		Logger:         log,
	})
	if err != nil {
		ix.Close()
		return nil, err
	}
	cert, err := loadIdentity(cfg)
	if err != nil {
		ix.Close()
		return nil, err
	}
	if cert != nil {
		log.Info("TLS identity", "pin", string(identity.PinOf(cert.Leaf)))
	}
	return &Peer{cfg: cfg, log: log, index: ix, transfer: svc, cert: cert}, nil
}

// loadIdentity returns the peer's TLS identity: the operator's files, or
// the key pair kept in cfg.TLSDir() (made on first start, with the
// advertised host among the certificate's names); nil with
// InsecurePlaintext.
func loadIdentity(cfg Config) (*tls.Certificate, error) {
	if cfg.InsecurePlaintext {
		return nil, nil
	}
	var cert tls.Certificate
	var err error
	if cfg.TLSCert != "" {
		cert, err = identity.LoadFiles(cfg.TLSCert, cfg.TLSKey)
	} else {
		var hosts []string
		if u, perr := url.Parse(cfg.Advertise); perr == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
		if h, _, serr := net.SplitHostPort(cfg.Listen); serr == nil && h != "" && h != "0.0.0.0" && h != "::" {
			hosts = append(hosts, h)
		}
		cert, err = identity.LoadOrCreateFor(cfg.TLSDir(), hosts)
	}
	if err != nil {
		return nil, fmt.Errorf("TLS identity: %w", err)
	}
	return &cert, nil
}

// Pin is the pin of the peer's TLS key; "" with InsecurePlaintext.
func (p *Peer) Pin() identity.Pin {
	if p.cert == nil {
		return ""
	}
	return identity.PinOf(p.cert.Leaf)
}

// Index is the peer's shared-folder index.
func (p *Peer) Index() *index.Index { return p.index }

// Listen opens the listener of cfg.Listen.
func (p *Peer) Listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// URL is the base URL other peers and clients reach this peer at when it
// serves on ln: cfg.Advertise if set, else https:// (http:// with
// InsecurePlaintext) and ln's address. The peer logs in at the directory with it.
func (p *Peer) URL(ln net.Listener) string {
	if p.cfg.Advertise != "" {
		return p.cfg.Advertise
	}
	scheme := "https"
	if p.cfg.InsecurePlaintext {
		scheme = "http"
	}
	return scheme + "://" + ln.Addr().String()
}

// Serve runs the peer on ln until ctx is done: it serves PeerService and the
// forwarded directory methods, keeps the session with the directory (login,
// publish, heartbeat, re-login) and publishes changes of the shared folder
// as they happen. At the end it logs out and lets running transfers finish
// within the shutdown grace period. It does not close the index: call Close
// after Serve returns.
// Errors: session.ErrLogin when the directory refuses the credentials; a
// serving error.
func (p *Peer) Serve(ctx context.Context, ln net.Listener) error {
	var known *rpcclient.KnownHosts
	if p.cfg.KnownHosts != "" {
		known = rpcclient.NewKnownHosts(p.cfg.KnownHosts)
	}
	directoryURL, httpClient, err := rpcclient.DirectoryClient(p.cfg.Directory, known)
	if err != nil {
		return fmt.Errorf("--directory: %w", err)
	}
	sess := session.New(session.Config{
		Directory:  directoryURL,
		Username:   p.cfg.User,
		Password:   p.cfg.Password,
		PeerName:   p.cfg.Name,
		Advertise:  p.URL(ln),
		HTTPClient: httpClient,
		KnownHosts: known,
		Identity:   p.cert,
		Logger:     p.log.With("component", "session"),
	})

	srv := rpcserver.New(rpcserver.Options{
		Logger:        p.log,
		Services:      []string{peerv1connect.PeerServiceName, directoryv1connect.DirectoryServiceName},
		Docs:          peerv1connect.PeerServiceName,
		Dashboard:     webui.Dashboard{Role: webui.RolePeer, PeerName: p.cfg.Name, PeerAccount: p.cfg.User, Directory: directoryURL},
		CORS:          p.cfg.CORS,
		TLS:           p.tlsConfig(),
		ShutdownGrace: p.cfg.ShutdownGrace,
		StallTimeout:  p.cfg.StallTimeout,
	})
	srv.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "peerhub_peer_transfers_running", Help: "Downloads and uploads running (holding a slot)."},
			func() float64 { r, _ := p.transfer.Load(); return float64(r) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "peerhub_peer_transfers_waiting", Help: "Downloads and uploads queued for a slot."},
			func() float64 { _, w := p.transfer.Load(); return float64(w) }),
	)
	if err := srv.Mount(rpcserver.Service{
		Name: peerv1connect.PeerServiceName,
		Handler: func(opts ...connect.HandlerOption) (string, http.Handler) {
			return transferapi.NewHandler(p.transfer, p.log, opts...)
		},
		Auth:   rpcserver.NewAuthInterceptor(transferAuth(sess)),
		Limits: transferapi.ReadLimits,
	}); err != nil {
		return err
	}
	// Plain HTTP downloads (links): the same slots, caps and rate.
	httpfiles.Mount(srv.Mux, p.transfer, fileAuth(sess), p.log)
	srv.Mux.HandleFunc("GET "+reachproof.Path, reachAnswer(sess))
	agent, err := p.relayAgent(sess, srv.Handler())
	if err != nil {
		return err
	}
	// Forwarded calls carry read tokens only; the directory checks them
	// again. The requests it forwards are small.
	proxy := newDirectoryProxy(httpClient, directoryURL, p.cfg.Directory)
	if err := srv.Mount(rpcserver.Service{
		Name: directoryv1connect.DirectoryServiceName,
		Handler: func(opts ...connect.HandlerOption) (string, http.Handler) {
			return directoryv1connect.NewDirectoryServiceHandler(proxy, opts...)
		},
		Auth: rpcserver.NewAuthInterceptor(readAuth(sess), proxyPublic...),
	}); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	changes := make(chan index.Change, 16)
	deltas := make(chan session.Delta, 16)
	errc := make(chan error, 3)
	wg.Go(func() {
		if err := p.index.Watch(ctx, changes); err != nil && ctx.Err() == nil {
			p.log.Error("watching the shared folder stopped; new files will not be published until restart", "error", err)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-changes:
				p.log.Info("shared folder changed", "added", len(c.Added), "removed", len(c.Removed))
				select {
				case deltas <- session.Delta{Added: entries(c.Added), Removed: c.Removed}:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	wg.Go(func() { agent.Run(ctx) })
	wg.Go(func() {
		err := sess.Run(ctx, func() []*directoryv1.FileEntry { return entries(p.index.Snapshot()) }, deltas)
		if err != nil {
			errc <- err
			cancel()
		}
	})
	serveErr := srv.Serve(ctx, ln)
	cancel()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return serveErr
}

// tlsConfig is the server's TLS configuration; nil for cleartext.
func (p *Peer) tlsConfig() *tls.Config {
	if p.cert == nil {
		return nil
	}
	return identity.ServerConfig(*p.cert)
}

// Close closes the index (saving its hash cache). Call it after Serve has
// returned.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		if err := p.index.Close(); err != nil {
			p.closeErr = fmt.Errorf("close index: %w", err)
		}
	})
	return p.closeErr
}

// Run starts a peer on cfg.Listen and serves until ctx is done.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	p, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()
	ln, err := p.Listen(ctx)
	if err != nil {
		return err
	}
	if err := p.Serve(ctx, ln); err != nil {
		return err
	}
	return p.Close()
}

// entries converts index entries to the directory's FileEntry messages.
func entries(es []index.Entry) []*directoryv1.FileEntry {
	out := make([]*directoryv1.FileEntry, len(es))
	for i, e := range es {
		out[i] = &directoryv1.FileEntry{
			Name:      e.Name,
			Size:      e.Size,
			Sha256:    e.SHA256,
			PieceSize: pieces.Size,
			PieceRoot: e.PieceRoot,
			Modified:  timestamppb.New(e.ModTime),
		}
	}
	return out
}

// seed copies the regular files of from into share when share holds no
// regular file yet (a fresh container volume). Existing files are never
// touched.
func seed(share, from string, log *slog.Logger) error {
	empty := true
	err := filepath.WalkDir(share, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name()[0] != '.' {
			empty = false
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("look into %s: %w", share, err)
	}
	if !empty {
		return nil
	}
	src, err := os.OpenRoot(from)
	if err != nil {
		return fmt.Errorf("seed from %s: %w", from, err)
	}
	defer src.Close()
	dst, err := os.OpenRoot(share)
	if err != nil {
		return fmt.Errorf("open %s: %w", share, err)
	}
	defer dst.Close()
	n := 0
	err = fs.WalkDir(src.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name != "." {
				return dst.MkdirAll(name, 0o755)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		n++
		return copyFile(src, dst, name)
	})
	if err != nil {
		return fmt.Errorf("seed from %s: %w", from, err)
	}
	log.Info("seeded shared folder", "from", from, "files", n)
	return nil
}

func copyFile(src, dst *os.Root, name string) error {
	in, err := src.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
