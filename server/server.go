// Package server owns the directory's edge: its configuration, the store it
// opens, and the HTTP server that serves DirectoryService over Connect, gRPC
// and gRPC-Web, and as REST/JSON (/v1/...) from the service's
// google.api.http annotations, on one port, with health, reflection and
// /metrics beside it. The rules themselves live in package directory; this
// package only translates between the protocol and the domain.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/private"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/internal/webui"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/relay"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/liveindex"
	"github.com/peerhub/peerhub/server/store/pagetoken"
	"github.com/peerhub/peerhub/server/store/postgres"
	"github.com/peerhub/peerhub/server/store/sqlite"
)

// Defaults of Config.
const (
	// DefaultListen is the address the directory listens on: loopback
	// only, so a first run exposes nothing to the network.
	DefaultListen = "127.0.0.1:8000"
	// DefaultData is the folder of the sqlite database.
	DefaultData = "./peerhub-data"
	// DefaultStore is the store kind.
	DefaultStore = StoreSQLite
	// DatabaseFile is the sqlite database's name inside the data folder.
	DatabaseFile = "directory.db"
)

// Store kinds of Config.Store.
const (
	// StoreSQLite keeps state in DatabaseFile inside Config.Data; it
	// survives restarts.
	StoreSQLite = "sqlite"
	// StoreMemory keeps state in a throwaway SQLite database in a new
	// temporary folder (sqlite.OpenTemp), deleted when the server closes:
	// nothing survives a restart. It is the sqlite store itself, indexes
	// and all, not a second implementation.
	StoreMemory = "memory"
)

// IsPostgresURL reports whether a Config.Store names a PostgreSQL database
// (postgres:// or postgresql://): state that survives restarts and that
// several directory replicas share (docs/SCALING.md).
func IsPostgresURL(storeKind string) bool {
	return strings.HasPrefix(storeKind, "postgres://") || strings.HasPrefix(storeKind, "postgresql://")
}

// Config configures a directory server. Zero fields take their defaults.
type Config struct {
	// Listen is the host:port to listen on; DefaultListen if empty. Port 0
	// picks a free port (see Server.Serve and the CLI's "listening on"
	// line).
	Listen string
	// Data is the folder of the sqlite database, created 0700 if missing
	// and made 0700 if it is open to other users; DefaultData if empty. Unused by StoreMemory (its folder is a new
	// temporary one) and by postgres.
	Data string
	// Store is StoreSQLite, StoreMemory, or the URL of a PostgreSQL
	// database (postgres://user:password@host:port/database?sslmode=...,
	// see IsPostgresURL); DefaultStore if empty. The URL may hold a
	// password: it is never logged nor quoted in errors.
	Store string
	// SearchInStore makes searches read the store itself instead of an
	// in-memory copy of the live files (package liveindex), which costs
	// about 0.7 KB of memory per indexed file: for a directory whose
	// index does not fit in its memory.
	SearchInStore bool
	// Heartbeat is how often sessions must heartbeat;
	// directory.DefaultHeartbeatInterval if zero. Sessions expire after
	// three missed intervals unless Directory.SessionTTL says otherwise.
	Heartbeat time.Duration
	// TLSCert and TLSKey are an operator's PEM files (a certificate from
	// a CA, say); without them the server serves the key and self-signed
	// certificate kept in Data (identity.LoadOrCreateFor; a temporary
	// folder for StoreMemory). New refuses a key file that other users may
	// read.
	TLSCert, TLSKey string
	// TLSHosts are names or addresses the generated certificate carries
	// besides localhost and this machine's name (for clients that check
	// names: grpcurl -cacert, curl --cacert).
	TLSHosts []string
	// InsecurePlaintext serves cleartext HTTP/1.1 and h2c instead of TLS:
	// for tests and a local demo only.
	InsecurePlaintext bool
	// Accounts is an htpasswd file of read-only accounts (bcrypt only).
	Accounts string
	// ShutdownGrace is how long running calls may finish on shutdown;
	// rpcserver.DefaultShutdownGrace if zero.
	ShutdownGrace time.Duration
	// CORS lets web pages of other origins call the directory; none if
	// zero.
	CORS rpcserver.CORS
	// StallTimeout ends a call whose client stops sending or accepting
	// data for this long; rpcserver.DefaultStallTimeout if zero, never if
	// negative.
	StallTimeout time.Duration
	// NoRelay turns the relay off (--relay=false): peers that cannot be
	// reached directly cannot be downloaded from.
	NoRelay bool
	// Relay configures the relay (server/relay): its caps and timeouts.
	Relay relay.Config
	// Directory holds the remaining settings of the directory (limits,
	// token lifetime, issuer, clock, password cost). Its
	// HeartbeatInterval, AccountsFile and Logger are set from Heartbeat,
	// Accounts and the server's logger.
	Directory directory.Config
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Data == "" {
		c.Data = DefaultData
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = directory.DefaultHeartbeatInterval
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = rpcserver.DefaultShutdownGrace
	}
	c.Directory.HeartbeatInterval = c.Heartbeat
	c.Directory.AccountsFile = c.Accounts
	return c
}

// Validate reports the first setting that cannot work, after defaults are
// applied. It does not touch the file system.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: want host:port, e.g. %s or :8000 for every interface: %w", c.Listen, DefaultListen, err)
	}
	switch {
	case c.Store == StoreSQLite, c.Store == StoreMemory, IsPostgresURL(c.Store):
	case strings.Contains(c.Store, "://"):
		// Whatever URL it is, it may carry a password.
		return fmt.Errorf("store %q: want %s, %s, or a postgres:// URL", redactURL(c.Store), StoreSQLite, StoreMemory)
	default:
		return fmt.Errorf("store %q: want %s (kept in the data folder), %s (a temporary folder, deleted on exit) or a postgres:// URL (shared by replicas)", c.Store, StoreSQLite, StoreMemory)
	}
	if c.Heartbeat < 0 {
		return fmt.Errorf("heartbeat %s: must be positive", c.Heartbeat)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("TLS needs both a certificate and a key file (or neither, for the generated one)")
	}
	if c.InsecurePlaintext && c.TLSCert != "" {
		return errors.New("--insecure-plaintext and --tls-cert contradict each other: choose one")
	}
	if err := c.CORS.Validate(); err != nil {
		return err
	}
	if err := c.Directory.Validate(); err != nil {
		return err
	}
	return c.Relay.Validate()
}

// redactURL drops everything after the scheme, so a password in a database
// URL never reaches an error message.
func redactURL(u string) string {
	scheme, _, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	return scheme + "://…"
}

// Server is a directory: a store, the domain on top of it, and the HTTP
// server in front. Create it with New, run it with Serve, and Close it after
// Serve returns.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	dir   *directory.Directory
	rpc   *rpcserver.Server
	relay *relay.Relay // nil with NoRelay
	// cert is the TLS identity served; zero with InsecurePlaintext.
	cert tls.Certificate
	// tempState is the temporary folder of StoreMemory's key, removed by
	// Close; "" otherwise.
	tempState string

	closeOnce sync.Once
	closeErr  error
}

// New opens the configured store, loads (or creates) the signing keys and
// the accounts file, and builds the HTTP handler. It does not listen yet.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Directory.Logger = logger
	s := &Server{cfg: cfg, log: logger}
	if err := s.loadIdentity(); err != nil {
		s.removeTempState()
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		s.removeTempState()
		return nil, err
	}
	dir, err := directory.New(ctx, st, cfg.Directory)
	if err != nil {
		st.Close()
		s.removeTempState()
		return nil, err
	}
	s.store, s.dir = st, dir
	if err := s.mount(); err != nil {
		st.Close()
		s.removeTempState()
		return nil, err
	}
	return s, nil
}

// OpenStore opens the store that cfg names: the sqlite database
// DatabaseFile in cfg.Data (creating the folder, or making an existing one
// 0700; the database is 0600, see sqlite.Open), a new sqlite
// database in a temporary folder that the store's Close deletes
// (StoreMemory), or the PostgreSQL database of a postgres:// URL (migrating
// its schema). Unless cfg.SearchInStore, the store is wrapped in a
// liveindex.Store, so that searches read an in-memory copy of the live
// files, of which the store stays the truth.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	cfg = cfg.withDefaults()
	if IsPostgresURL(cfg.Store) {
		// postgres.Open's errors never quote the URL.
		st, err := postgres.Open(ctx, cfg.Store)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", redactURL(cfg.Store), err)
		}
		return searchIndex(cfg, st, postgres.PageTokens), nil
	}
	switch cfg.Store {
	case StoreMemory:
		st, err := sqlite.OpenTemp(ctx)
		if err != nil {
			return nil, fmt.Errorf("open throwaway store: %w", err)
		}
		return searchIndex(cfg, st, sqlite.PageTokens), nil
	case StoreSQLite:
		// Only the directory's user may list the folder or open what is
		// in it, even if it existed before with a wider mode.
		if err := private.Dir(cfg.Data); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		path := filepath.Join(cfg.Data, DatabaseFile)
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		return searchIndex(cfg, st, sqlite.PageTokens), nil
	default:
		return nil, fmt.Errorf("store %q: want %s, %s or a postgres:// URL", redactURL(cfg.Store), StoreSQLite, StoreMemory)
	}
}

// searchIndex wraps st, whose page tokens are of format tokens, in the
// in-memory search index unless cfg.SearchInStore.
func searchIndex(cfg Config, st store.Store, tokens pagetoken.Format) store.Store {
	if cfg.SearchInStore {
		return st
	}
	return liveindex.New(st, liveindex.Options{Tokens: tokens})
}

// Procedures that need no token.
var publicProcedures = []string{
	directoryv1connect.DirectoryServiceGetInfoProcedure,
	directoryv1connect.DirectoryServiceLoginProcedure,
	// The refresh token is in the body, as a password is in Login's.
	directoryv1connect.DirectoryServiceRefreshProcedure,
}

// mount builds the rpcserver with DirectoryService on its Connect path and
// its REST routes under /v1/, and registers the directory's metrics.
func (s *Server) mount() error {
	s.rpc = rpcserver.New(rpcserver.Options{
		Logger:        s.log,
		Services:      []string{directoryv1connect.DirectoryServiceName},
		Docs:          directoryv1connect.DirectoryServiceName,
		Dashboard:     webui.Dashboard{Role: webui.RoleDirectory},
		CORS:          s.cfg.CORS,
		TLS:           s.tlsConfig(),
		ShutdownGrace: s.cfg.ShutdownGrace,
		StallTimeout:  s.cfg.StallTimeout,
	})
	loginFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "peerhub_directory_login_failures_total",
		Help: "Failed logins, by reason: bad_credentials or rate_limited.",
	}, []string{"reason"})
	for _, r := range []string{"bad_credentials", "rate_limited"} {
		loginFailures.WithLabelValues(r) // export zeros before the first failure
	}
	if err := s.rpc.Registry.Register(loginFailures); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if err := s.rpc.Registry.Register(newStatsCollector(s.dir, s.log)); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}

	h := &handler{dir: s.dir, log: s.log, loginFailures: loginFailures}
	if !s.cfg.NoRelay {
		r, err := relay.New(s.cfg.Relay, relayAuth{s}, s.rpc.Registry, s.log.With("component", "relay"))
		if err != nil {
			return err
		}
		r.Mount(s.rpc.Mux)
		s.relay, h.relayed = r, r.Relayed
	}
	// Connect, gRPC and gRPC-Web calls go to the handler through the
	// gate, which checks the token before reading a byte of the body; REST
	// calls pass a gate of their own before vanguard transcodes them into
	// calls of the same handler, so both paths share every check.
	return s.rpc.Mount(rpcserver.Service{
		Name: directoryv1connect.DirectoryServiceName,
		Handler: func(opts ...connect.HandlerOption) (string, http.Handler) {
			return directoryv1connect.NewDirectoryServiceHandler(h, opts...)
		},
		Auth:   rpcserver.NewAuthInterceptor(s.authenticate, publicProcedures...),
		Limits: readLimits(s.dir.Info().MaxPublishEntries),
		REST:   true,
	})
}

// Read limits of DirectoryService requests, in bytes (see readLimits).
const (
	// loginReadLimit holds the largest valid LoginRequest (a 64-byte
	// username, a 1024-byte password, a 2048-byte advertise address and a
	// 64-byte peer name: 3.3 KB in binary) and room for JSON to escape the
	// password.
	loginReadLimit = 8 << 10
	// getInfoReadLimit is room for an empty GetInfoRequest in any encoding.
	getInfoReadLimit = 1 << 10
	// publishEntryBytes bounds one entry of a Publish: a FileEntry with a
	// 1024-byte name, two 64-digit hashes, two sizes and a time takes
	// 1.2 KB in binary and about as much in JSON; a removed name less.
	publishEntryBytes = 1536
	// publishBaseBytes is room for a Publish's framing besides entries.
	publishBaseBytes = 4 << 10
)

// readLimits says how large a request each DirectoryService method reads:
// Publish as many entries as one call may carry (maxPublishEntries), Login
// and GetInfo, which need no token, a few KiB, and everything else
// rpcserver.DefaultReadLimit.
func readLimits(maxPublishEntries int) rpcserver.ReadLimits {
	return rpcserver.ReadLimits{ByProcedure: map[string]int{
		directoryv1connect.DirectoryServiceLoginProcedure:   loginReadLimit,
		directoryv1connect.DirectoryServiceRefreshProcedure: loginReadLimit,
		directoryv1connect.DirectoryServiceGetInfoProcedure: getInfoReadLimit,
		directoryv1connect.DirectoryServicePublishProcedure: publishBaseBytes + maxPublishEntries*publishEntryBytes,
	}}
}

// readProcedures are the read-only procedures, which also accept a read
// token (the token an access point forwards); every other one needs the
// session token.
var readProcedures = map[string]bool{
	directoryv1connect.DirectoryServiceGetInfoProcedure:     true,
	directoryv1connect.DirectoryServiceSearchProcedure:      true,
	directoryv1connect.DirectoryServiceWatchSearchProcedure: true,
	directoryv1connect.DirectoryServiceListPeersProcedure:   true,
	directoryv1connect.DirectoryServiceListFilesProcedure:   true,
}

// authenticate is the auth interceptor's check: the directory's verdict for
// the kind of call procedure is, with the directory's own failures (a
// broken store) kept apart from bad tokens by connectError.
func (s *Server) authenticate(ctx context.Context, procedure, bearer string) (token.Claims, error) {
	check := s.dir.Authenticate
	switch {
	case readProcedures[procedure]:
		check = s.dir.AuthenticateRead
	case procedure == directoryv1connect.DirectoryServiceHeartbeatProcedure:
		// Heartbeat checks its session itself, as it extends it.
		check = s.dir.AuthenticateHeartbeat
	}
	c, err := check(ctx, bearer)
	if err != nil {
		return token.Claims{}, connectError(ctx, s.log, "authenticate", err)
	}
	return c, nil
}

// Handler returns the server's HTTP handler (every route), for tests that
// serve it themselves.
func (s *Server) Handler() http.Handler { return s.rpc.Handler() }

// Directory returns the domain, e.g. for tests and the CLI to add users.
func (s *Server) Directory() *directory.Directory { return s.dir }

// Serve serves on ln, loads the in-memory search index, and reaps expired
// sessions, until ctx is done; then it
// shuts down gracefully and returns nil. It does not close ln's store:
// call Close after Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.dir.Run(ctx); err != nil {
			s.log.Error("reaper stopped", "error", err)
		}
	})
	if ix, ok := s.store.(*liveindex.Store); ok {
		wg.Go(func() {
			start := time.Now()
			n, err := ix.Load(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				// The first search loads it, or fails with the reason.
				s.log.Warn("loading the search index", "error", err)
			case err == nil:
				s.log.Info("search index loaded", "files", n, "took", time.Since(start).Round(time.Millisecond))
			}
		})
	}
	err := s.rpc.Serve(ctx, ln)
	if s.relay != nil {
		s.relay.Close()
	}
	cancel()
	wg.Wait()
	return err
}

// Close closes the store. Call it after Serve has returned.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if err := s.store.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
		s.removeTempState()
	})
	return s.closeErr
}

// Listen opens the listener of cfg.Listen.
func (s *Server) Listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// URL is the base URL clients use for a listener of this server: https://
// (http:// with InsecurePlaintext) and ln's address.
func (s *Server) URL(ln net.Listener) string {
	scheme := "https"
	if s.cfg.InsecurePlaintext {
		scheme = "http"
	}
	return scheme + "://" + ln.Addr().String()
}

// PinnedURL is URL followed by "#" and the server's pin, the form clients
// accept to trust this directory without asking anyone
// (rpcclient.SplitPin); URL alone with InsecurePlaintext.
func (s *Server) PinnedURL(ln net.Listener) string {
	if s.cfg.InsecurePlaintext {
		return s.URL(ln)
	}
	return s.URL(ln) + "#" + string(s.Pin())
}
