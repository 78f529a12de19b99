// Package peer owns the peer daemon: it shares a folder (kept indexed by
// peer/index), keeps a session with the directory (peer/session), serves
// PeerService (peer/transfer) and forwards read-only directory calls, all on
// one port, and shuts down gracefully.
package peer

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/peerhub/peerhub/internal/advertise"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/relayagent"
	"github.com/peerhub/peerhub/peer/transfer"
)

// Defaults of the peer's Config.
const (
	DefaultListen    = "127.0.0.1:8001"
	DefaultDirectory = "https://127.0.0.1:8000"
	// DefaultMaxUploadTotal is the most bytes uploads may store in the
	// shared folder together, across restarts.
	DefaultMaxUploadTotal = 16 << 30 // bytes
	DefaultShutdownGrace  = 10 * time.Second
	// DefaultMemoryLimit is the soft memory limit `peerhub peer` sets
	// for itself (MemoryLimit; GOMEMLIMIT if set instead), in bytes. The
	// Go runtime lets the heap grow to twice what is live before it
	// collects (GOGC=100); a serving peer's live heap is small (a piece
	// buffer and a chunk per running download, see transfer) but it
	// allocates a chunk per message sent, so without a limit its RSS
	// grows with the garbage (bench/peer-rss.sh, docs/BENCHMARKS.md).
	// It covers the runtime's memory only, not the executable's mapped
	// pages.
	DefaultMemoryLimit = 24 << 20 // bytes
)

// Config is everything a peer needs to run.
type Config struct {
	// Share is the folder whose files the peer shares (required).
	Share string
	// Name is how the peer is listed; the username if empty.
	Name string
	// Listen is the host:port to serve PeerService on.
	Listen string
	// Advertise is the URL other peers reach this one at; derived from
	// the listening address if empty (which works only when that is
	// reachable by them, e.g. on loopback).
	Advertise string
	// Directory is the directory's URL.
	Directory string
	// User and Password are the account to log in with.
	User, Password string
	// State is where the hash cache and upload temp files live;
	// Share/.peerhub if empty.
	State string
	// ShareHidden shares dotfiles too.
	ShareHidden bool
	// Settle is how long a new or changed file must stay unchanged, and
	// closed by every writer, before it is published;
	// index.DefaultSettle if zero.
	Settle time.Duration
	// AcceptUploads lets other users store files in Share.
	AcceptUploads bool
	// MaxUploadSize is the largest upload accepted, in bytes;
	// transfer.DefaultMaxUploadSize if zero.
	MaxUploadSize int64
	// MaxUploadTotal is the most bytes all uploads may store in Share
	// together, counted across restarts (transfer.UploadTotalFile).
	MaxUploadTotal int64
	// UploadFolder is the shared folder as uploads write to it
	// (transfer.Options.Folder); the real one if nil. Not a flag: tests
	// pass an outfs.Faulty to fill the disk at a chosen write. The peer
	// does not close it.
	UploadFolder outfs.Folder
	// MaxTransfers is how many transfers (downloads and uploads together)
	// are served at once; transfer.DefaultMaxTransfers if zero.
	MaxTransfers int
	// MaxTransfersPerAccount and MaxTransfersPerAddress are how many
	// transfers one account, and one remote address, may have running or
	// waiting at once; transfer.DefaultMaxPerAccount and
	// transfer.DefaultMaxPerAddress if zero, no cap if negative.
	MaxTransfersPerAccount, MaxTransfersPerAddress int
	// StallTimeout ends a transfer (any call) whose client stops sending
	// or accepting data for this long; rpcserver.DefaultStallTimeout if
	// zero, never if negative.
	StallTimeout time.Duration
	// MaxRate caps outgoing file data in bytes per second; 0 is no cap.
	MaxRate int64
	// TLSCert and TLSKey are an operator's PEM files to serve TLS with;
	// without them the peer serves the key and self-signed certificate
	// kept in its state folder (TLSDir), whose pin it proves to the
	// directory at login.
	TLSCert, TLSKey string
	// InsecurePlaintext serves cleartext HTTP/1.1 and h2c instead of TLS
	// (the advertised URL is then http://): for tests and a local demo
	// only.
	InsecurePlaintext bool
	// KnownHosts is the file of directory keys trusted on first use
	// (rpcclient.KnownHosts); none if empty: an https:// directory then
	// needs its pin in the URL (#sha256//…) or a certificate from a known
	// authority.
	KnownHosts string
	// SeedFrom, when set, copies that folder's files into Share on a first
	// start (Share empty), so a fresh container volume has something to
	// share.
	SeedFrom string
	// ShutdownGrace is how long running transfers may finish at shutdown.
	ShutdownGrace time.Duration
	// CORS lets web pages of other origins call the peer; none if zero.
	CORS rpcserver.CORS
	// MemoryLimit is the Go runtime's soft memory limit for the process
	// (debug.SetMemoryLimit), in bytes, set by ApplyMemoryLimit; zero
	// leaves the runtime's own (GOMEMLIMIT, or none). It is soft: past it the
	// runtime collects more often (spending at most about half the CPU),
	// it never fails an allocation.
	MemoryLimit int64
	// Relay says when to wait for downloaders at the directory's relay:
	// relayagent.ModeAuto (when the directory's dial-back cannot reach
	// the advertise address; the default), ModeAlways or ModeNever.
	Relay string
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Directory == "" {
		c.Directory = DefaultDirectory
	}
	if c.Name == "" {
		c.Name = c.User
	}
	if c.MaxTransfers == 0 {
		c.MaxTransfers = transfer.DefaultMaxTransfers
	}
	if c.MaxUploadSize == 0 {
		c.MaxUploadSize = transfer.DefaultMaxUploadSize
	}
	if c.MaxUploadTotal == 0 {
		c.MaxUploadTotal = DefaultMaxUploadTotal
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Relay == "" {
		c.Relay = relayagent.ModeAuto
	}
	if c.Settle == 0 {
		c.Settle = index.DefaultSettle
	}
	return c
}

// TLSDir is the folder of the peer's generated TLS key and certificate:
// "tls" in its state folder (State, or Share/.peerhub).
func (c Config) TLSDir() string {
	state := c.State
	if state == "" {
		state = filepath.Join(c.Share, sharepath.StateDir)
	}
	return filepath.Join(state, "tls")
}

// ApplyMemoryLimit sets c.MemoryLimit as the process's soft memory limit,
// if it is not zero, and returns the limit in force. It is process-wide, so
// only the command that runs as a peer calls it, before Run.
func (c Config) ApplyMemoryLimit() int64 {
	if c.MemoryLimit > 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
	}
	return debug.SetMemoryLimit(-1) // -1 reads it
}

// Validate reports the first problem with c, in words a user can act on.
func (c Config) Validate() error {
	var errs []error
	if c.Share == "" {
		errs = append(errs, errors.New("--share: give the folder to share"))
	}
	if c.User == "" {
		errs = append(errs, errors.New("--user: give the account to log in with"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("no password: set PEERHUB_PASSWORD or give --password-file"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port", c.Listen))
	}
	if err := checkURL("--directory", c.Directory); err != nil {
		errs = append(errs, err)
	}
	if c.Relay != "" {
		if err := relayagent.CheckMode(c.Relay); err != nil {
			errs = append(errs, fmt.Errorf("--relay: %w", err))
		}
	}
	if c.Advertise != "" {
		if err := advertise.Check(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("--advertise: %w", err))
		}
	} else if host, _, err := net.SplitHostPort(c.Listen); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		errs = append(errs, fmt.Errorf("--advertise: listening on %q, other peers need a reachable URL such as https://HOST:PORT", c.Listen))
	}
	if c.MaxTransfers < 1 {
		errs = append(errs, fmt.Errorf("--max-transfers %d: want at least 1", c.MaxTransfers))
	}
	if c.MemoryLimit < 0 {
		errs = append(errs, fmt.Errorf("--memory-limit %d: cannot be negative", c.MemoryLimit))
	}
	if c.MaxUploadSize < 0 || c.MaxUploadTotal < 0 || c.MaxRate < 0 {
		errs = append(errs, errors.New("--max-upload-size, --max-upload-total and --max-rate cannot be negative"))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("--settle %v: cannot be negative", c.Settle))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.InsecurePlaintext && c.TLSCert != "" {
		errs = append(errs, errors.New("--insecure-plaintext and --tls-cert contradict each other: choose one"))
	}
	if c.Advertise != "" && !c.InsecurePlaintext && strings.HasPrefix(c.Advertise, "http://") {
		errs = append(errs, fmt.Errorf("--advertise %s: the peer serves TLS, advertise https:// (or run with --insecure-plaintext)", c.Advertise))
	}
	if c.Advertise != "" && c.InsecurePlaintext && strings.HasPrefix(c.Advertise, "https://") {
		errs = append(errs, fmt.Errorf("--advertise %s: the peer serves cleartext (--insecure-plaintext), advertise http://", c.Advertise))
	}
	if err := c.CORS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--cors-origin: %w", err))
	}
	return errors.Join(errs...)
}

func checkURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want an http:// or https:// URL", flag, raw)
	}
	return nil
}
