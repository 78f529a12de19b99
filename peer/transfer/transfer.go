// Package transfer owns how a peer serves the files of its shared folder:
// describing a shared file (Stat), streaming a byte range of it (Download)
// and storing a file another peer sends (Upload). It owns the limits on that
// work too: how many transfers run at once, how many wait, how many of
// those one account or address may have, how fast data leaves, and how
// large an upload may be.
//
// Every file access goes through the shared folder's *os.Root and every name
// through sharepath.Check, so no name, symbolic link or ".." segment reaches
// outside the shared folder. The package knows nothing of RPC: the peer's
// Connect handler (peer/transferapi) decodes requests, calls a Service and
// maps the sentinel errors below to status codes.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
	"github.com/peerhub/peerhub/peer/index"
)

// Defaults of Options.
const (
	// DefaultMaxTransfers is how many downloads and uploads run at once:
	// six clients at their DefaultMaxPerAccount, in about 24 MiB of
	// piece buffers (each download reads and verifies a whole piece,
	// pieces.Size, before sending it; see readPiece).
	DefaultMaxTransfers = 24
	// DefaultChunkSize is the size of the chunks a download is read and sent
	// in, in bytes. Measured over loopback h2c (BenchmarkDownload in
	// peer/transferapi): 256 KiB, 512 KiB and 1 MiB chunks cost the same CPU
	// per byte within noise (1.9–2.3 ns/B for server and client together),
	// 32 KiB almost twice as much; but each running download holds about
	// three chunks (ours, connect's encoding buffer, the HTTP/2 frame), so
	// the smallest keeps a peer serving 4 downloads at 30 MiB peak RSS
	// where 512 KiB takes 34 MiB (bench/peer_rss.sh).
	DefaultChunkSize = 256 << 10 // bytes
	// MinChunkSize and MaxChunkSize bound Options.ChunkSize: the protocol
	// allows 4 MiB per message, and tiny chunks waste a frame each.
	MinChunkSize = 4 << 10 // bytes
	MaxChunkSize = 4 << 20 // bytes
	// DefaultMaxUploadSize is the largest upload accepted unless configured.
	DefaultMaxUploadSize = 1 << 30 // bytes
)

// Errors of this package. Every error a Service returns wraps one of them
// (or a context error) with the details; peer/transferapi maps each to one
// status code.
var (
	// ErrInvalid means a request is malformed: no or two targets, a bad
	// SHA-256, a name sharepath.Check refuses (then it wraps
	// sharepath.ErrInvalid too), a name inside sharepath.StateDir, an
	// upload name that is or goes through a symbolic link, or an upload
	// stream that is not one header followed by chunks.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound means the peer does not share the requested file.
	ErrNotFound = errors.New("not shared here")
	// ErrChanged means the file on disk no longer matches what the index
	// recorded (size or modification time, or a piece that no longer
	// matches its hash), or vanished: the peer stops serving it under that
	// content and re-indexes it (Catalog.Reindex).
	ErrChanged = errors.New("file changed since indexed")
	// ErrOutOfRange means a download's offset is past the end of the file.
	ErrOutOfRange = errors.New("offset past end of file")
	// ErrBusy means the peer runs MaxTransfers transfers and MaxQueue more
	// wait already, or the caller's account or address has as many running
	// or waiting as MaxPerAccount or MaxPerAddress allow.
	ErrBusy = errors.New("too many transfers; try again later")
	// ErrUploadsDisabled means the peer does not accept uploads.
	ErrUploadsDisabled = errors.New("uploads are disabled on this peer")
	// ErrTooLarge means an upload's size is over MaxUploadSize, or over
	// what MaxUploadTotal leaves after the uploads stored and running.
	ErrTooLarge = errors.New("upload too large")
	// ErrNoSpace means an upload's size is over the free disk space of the
	// shared folder (less the uploads already running), or the disk filled
	// up while the upload was written (outfs.DiskFull).
	ErrNoSpace = errors.New("not enough free disk space")
	// ErrExists means an upload's name is taken (by a file or a folder), or
	// one of its parent folders is a file.
	ErrExists = errors.New("name already exists")
	// ErrMismatch means an upload's content does not match its header: more
	// or fewer bytes than its size, or another SHA-256.
	ErrMismatch = errors.New("content does not match header")
)

// Catalog is what a Service serves: the shared files as indexed.
// *index.Index implements it.
type Catalog interface {
	// ByName returns the entry of the file at name, relative to the shared
	// folder.
	ByName(name string) (index.Entry, bool)
	// BySHA256 returns every entry whose content has that SHA-256 (64
	// lowercase hex digits).
	BySHA256(hex string) ([]index.Entry, bool)
	// Reindex is told that the file name no longer holds the content
	// sha256 it is listed with (why says what was seen): the catalog must
	// stop listing it under that content and index it again.
	Reindex(name, sha256 string, why error) bool
}

// Options configure a Service.
type Options struct {
	// Catalog resolves names and hashes to indexed files. Required.
	Catalog Catalog
	// Root is the shared folder; all files are read and written through it.
	// Required. The Service does not close it.
	Root *os.Root
	// MaxTransfers is how many downloads and uploads run at once;
	// DefaultMaxTransfers if zero.
	MaxTransfers int
	// MaxQueue is how many more may wait for a free slot (in arrival order)
	// before the next one gets ErrBusy; 2×MaxTransfers if zero, none if
	// negative.
	MaxQueue int
	// MaxPerAccount and MaxPerAddress are how many transfers (running and
	// waiting together) one account, and one remote address, may have
	// (see Caller); DefaultMaxPerAccount and DefaultMaxPerAddress if zero,
	// no cap if negative.
	MaxPerAccount, MaxPerAddress int
	// MaxRate limits the data all downloads send together, in bytes per
	// second; zero means unlimited.
	MaxRate int64
	// ChunkSize is the size of the chunks downloads send, in bytes;
	// DefaultChunkSize if zero, else clamped to [MinChunkSize, MaxChunkSize].
	ChunkSize int
	// AcceptUploads allows Upload; without it Upload returns
	// ErrUploadsDisabled.
	AcceptUploads bool
	// MaxUploadSize is the largest upload accepted, in bytes;
	// DefaultMaxUploadSize if zero.
	MaxUploadSize int64
	// MaxUploadTotal is the most bytes all uploads together may store in
	// the shared folder, counted across restarts in UploadTotalFile, in
	// bytes; DefaultMaxUploadTotal if zero.
	MaxUploadTotal int64
	// Folder is the shared folder as uploads write to it: every file
	// operation of receiving and storing an upload goes through it. Nil
	// means outfs.OnRoot(Root), the real one; tests pass an outfs.Faulty
	// over that to fill the disk at a chosen write.
	Folder outfs.Folder
	// Logger receives what cannot be reported to a caller (a temporary file
	// that could not be removed) and a line per transfer served (remote
	// account, file, bytes, duration). Discarded if nil.
	Logger *slog.Logger
}

// Service serves the files of one shared folder. It is safe for concurrent
// use.
type Service struct {
	catalog       Catalog
	root          *os.Root
	upfs          outfs.Folder // where uploads write: Options.Folder
	chunkSize     int
	acceptUploads bool
	maxUpload     int64
	log           *slog.Logger

	slots   chan struct{} // one element per running transfer
	queue   chan struct{} // one element per transfer waiting for a slot
	callers *callers      // running and waiting transfers per account and address
	limiter *rate.Limiter // nil when unlimited
	buffers *pieceBuffers // one per running download, DefaultIdleBuffers kept
	// skipVerify serves pieces without checking them against their hash;
	// only the benchmark that measures what checking costs sets it.
	skipVerify bool

	// reserved is the total size of the uploads running, subtracted from
	// the free disk space when admitting another.
	reserved atomic.Int64
	// budget bounds the bytes uploads store in total; nil without
	// AcceptUploads.
	budget *uploadBudget
	// activity tracks the running transfers and the recent uploads.
	activity *activity
	// limits are the options' limits, defaults applied, for Status.
	limits Limits
	// freeSpace reports the bytes available on the shared folder's disk;
	// tests replace it.
	freeSpace func(*os.Root) (int64, error)
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Catalog == nil || o.Root == nil {
		return nil, errors.New("transfer: Options.Catalog and Options.Root are required")
	}
	if o.MaxTransfers <= 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	switch {
	case o.MaxQueue == 0:
		o.MaxQueue = 2 * o.MaxTransfers
	case o.MaxQueue < 0:
		o.MaxQueue = 0
	}
	if o.MaxPerAccount == 0 {
		o.MaxPerAccount = DefaultMaxPerAccount
	}
	if o.MaxPerAddress == 0 {
		o.MaxPerAddress = DefaultMaxPerAddress
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	o.ChunkSize = min(max(o.ChunkSize, MinChunkSize), MaxChunkSize)
	if o.MaxUploadSize <= 0 {
		o.MaxUploadSize = DefaultMaxUploadSize
	}
	if o.MaxUploadTotal <= 0 {
		o.MaxUploadTotal = DefaultMaxUploadTotal
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Folder == nil {
		o.Folder = outfs.OnRoot(o.Root)
	}
	s := &Service{
		catalog:       o.Catalog,
		root:          o.Root,
		upfs:          o.Folder,
		chunkSize:     o.ChunkSize,
		acceptUploads: o.AcceptUploads,
		maxUpload:     o.MaxUploadSize,
		log:           o.Logger,
		slots:         make(chan struct{}, o.MaxTransfers),
		queue:         make(chan struct{}, o.MaxQueue),
		callers:       newCallers(o.MaxPerAccount, o.MaxPerAddress),
		freeSpace:     freeSpace,
		activity:      newActivity(o.Logger),
		buffers:       newPieceBuffers(DefaultIdleBuffers),
		limits: Limits{
			MaxTransfers: o.MaxTransfers, MaxQueue: o.MaxQueue,
			MaxPerAccount: max(o.MaxPerAccount, 0), MaxPerAddress: max(o.MaxPerAddress, 0),
			MaxRate: max(o.MaxRate, 0), AcceptUploads: o.AcceptUploads,
			MaxUploadSize: o.MaxUploadSize, MaxUploadTotal: o.MaxUploadTotal,
		},
	}
	s.sweepIncoming(time.Now())
	if o.AcceptUploads {
		b, err := loadBudget(o.Root, o.MaxUploadTotal)
		if err != nil {
			return nil, err
		}
		s.budget = b
	}
	if o.MaxRate > 0 {
		// The burst must hold one chunk, since WaitN asks for a chunk at
		// a time; it is not larger, so the rate holds over short spans.
		s.limiter = rate.NewLimiter(rate.Limit(o.MaxRate), o.ChunkSize)
	}
	return s, nil
}

// ChunkSize is the size of the chunks Download sends, in bytes.
func (s *Service) ChunkSize() int { return s.chunkSize }

// acquire takes a transfer slot for ctx's Caller, waiting in the queue (in
// arrival order) while all are taken and the queue has room. A caller at
// its account's or address's cap is refused at once, neither served nor
// queued. The caller must call the returned release once done.
// Errors: ErrBusy, or ctx's error while waiting.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	leave, err := s.callers.admit(callerFrom(ctx))
	if err != nil {
		return nil, err
	}
	release = func() { <-s.slots; leave() }
	select {
	case s.slots <- struct{}{}:
		return release, nil
	default:
	}
	select {
	case s.queue <- struct{}{}:
	default:
		leave()
		return nil, fmt.Errorf("%w (%d running, %d waiting)", ErrBusy, cap(s.slots), cap(s.queue))
	}
	defer func() { <-s.queue }()
	select {
	case s.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		leave()
		return nil, fmt.Errorf("wait for a transfer slot: %w", context.Cause(ctx))
	}
}

// Load reports how many transfers are running and how many wait for a
// slot, e.g. for metrics.
func (s *Service) Load() (running, waiting int) { return len(s.slots), len(s.queue) }

// Target names one shared file: by content hash or by name, exactly one.
type Target struct {
	// SHA256 is the content's SHA-256, 64 lowercase hex digits.
	SHA256 string
	// Name is the path relative to the shared folder.
	Name string
}

func (t Target) String() string {
	if t.SHA256 != "" {
		return "sha256 " + t.SHA256
	}
	return fmt.Sprintf("%q", t.Name)
}

// resolve returns the entries of t: every name of a hash, or the one of a
// name.
// Errors: ErrInvalid, ErrNotFound.
func (s *Service) resolve(t Target) ([]index.Entry, error) {
	switch {
	case (t.SHA256 == "") == (t.Name == ""):
		return nil, fmt.Errorf("%w: name exactly one of sha256 and name", ErrInvalid)
	case t.SHA256 != "":
		if !pieces.IsHex(t.SHA256) {
			return nil, fmt.Errorf("%w: sha256 must be 64 lowercase hex digits", ErrInvalid)
		}
		es, ok := s.catalog.BySHA256(t.SHA256)
		if !ok || len(es) == 0 {
			return nil, fmt.Errorf("%v: %w", t, ErrNotFound)
		}
		return es, nil
	default:
		if err := checkName(t.Name); err != nil {
			return nil, err
		}
		e, ok := s.catalog.ByName(t.Name)
		if !ok {
			return nil, fmt.Errorf("%v: %w", t, ErrNotFound)
		}
		return []index.Entry{e}, nil
	}
}

// Info describes one shared content.
type Info struct {
	// SHA256 is the content's SHA-256, 64 lowercase hex digits.
	SHA256 string
	// Size is the content's length in bytes.
	Size int64
	// Names are the paths, relative to the shared folder, that hold this
	// content, sorted.
	Names []string
	// PieceSize is the length of every piece but the last, in bytes.
	PieceSize int
	// PieceHashes are the SHA-256 hashes of the pieces, in order.
	PieceHashes [][32]byte
	// PieceRoot is the SHA-256 of the concatenated PieceHashes, 64
	// lowercase hex digits.
	PieceRoot string
	// Modified is the newest modification time among Names.
	Modified time.Time
}

// Stat describes the file t names, as indexed. A file asked for by name is
// described with every name its content has.
// Errors: ErrInvalid, ErrNotFound.
func (s *Service) Stat(ctx context.Context, t Target) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	es, err := s.resolve(t)
	if err != nil {
		return Info{}, err
	}
	if t.Name != "" {
		if all, ok := s.catalog.BySHA256(es[0].SHA256); ok && len(all) > 0 {
			es = all
		}
	}
	e := es[0]
	info := Info{
		SHA256:      e.SHA256,
		Size:        e.Size,
		PieceSize:   pieces.Size,
		PieceHashes: e.PieceHashes,
		PieceRoot:   e.PieceRoot,
	}
	for _, x := range es {
		info.Names = append(info.Names, x.Name)
		if x.ModTime.After(info.Modified) {
			info.Modified = x.ModTime
		}
	}
	slices.Sort(info.Names)
	info.Names = slices.Compact(info.Names)
	return info, nil
}

// checkName checks a name a caller gave: sharepath's rules, and not inside
// peerhub's own state folder.
// Errors: ErrInvalid (wrapping sharepath.ErrInvalid when that refused it).
func checkName(name string) error {
	if err := sharepath.Check(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if first, _, _ := strings.Cut(name, "/"); first == sharepath.StateDir {
		return fmt.Errorf("%w: %q is inside peerhub's state folder %s", ErrInvalid, truncate(name), sharepath.StateDir)
	}
	return nil
}

// truncate shortens a caller's name for an error message.
func truncate(name string) string {
	const maxLen = 64
	if len(name) <= maxLen {
		return name
	}
	return name[:maxLen] + "…"
}
