// Package downloader owns getting a file out of the network and putting one
// in: resolving a name or a SHA-256 to a content and its sources at the
// directory (Resolve), fetching that content piece by piece from every
// source at once into a resumable partial file next to its destination
// (Download), and sending a local file to a peer (Upload).
//
// A download trusts no peer: the piece list a source describes (Stat) must
// hash to the piece root the directory announced, and the whole file must
// hash to the announced SHA-256 before it takes its final name. While more
// than one source is live, every piece is checked against its hash before
// a byte of it is written; from a single source, pieces are written
// unchecked and checked only if the whole file fails its SHA-256, to find
// the bad ones (locate.go: each byte is hashed once on the honest path). A
// source that describes another content is dropped, and only that source;
// one that sends a bad piece is banned for the rest of the download,
// including the fallbacks of Get; their pieces are fetched elsewhere. A content is its
// whole descriptor (SHA-256, size, piece size, piece root): when peers
// announce one SHA-256 with several, Get tries the one the most independent
// accounts announce first and falls back to the others.
//
// Nothing announced is trusted before it is checked: the size, piece size
// and piece count are held to limits (MaxSize, MaxPieces) and to the free
// disk before anything of that size is allocated or any peer is contacted,
// and the state file is decoded as untrusted input. The download touches
// only its own files: every open, create, rename and remove in the output
// folder goes through an os.Root, and no symbolic link is followed (one
// planted at the partial or state file's name is refused). It writes only
// portable names (sharepath.Check).
//
// The partial file is <dest>.peerhub-partial and its state (which pieces are
// on disk) is <dest>.peerhub-state, names a peer's index never shares
// (sharepath.PartialSuffix, sharepath.StateSuffix). Both are reserved at
// their full size when a download starts, and the state is then overwritten
// in place (state.go), so a disk that fills during a download does not stop
// it. A download that stops for any reason (Ctrl-C, a crash, no source
// left, a full disk) resumes from them with the same call. The partial file
// is made durable by one sync, when complete (earlier syncs in the
// background, every few tens of MiB, only spread the disk's flushing over
// the transfer: writeback.go); the state never is synced (a state that
// claims more than a power loss left only costs fetching those pieces
// again).
//
// The package is used by the command line (get, put, menu) and knows
// nothing of it.
package downloader

import (
	"errors"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// Errors of this package. Errors returned wrap one of them (or a context
// error, or a *connect.Error from the directory) with the details.
var (
	// ErrNoSources means no source is left that can deliver the missing
	// pieces: none was given, or each was dropped (unreachable, does not
	// have the file, sent a bad piece). The partial file is kept, so the
	// download resumes once a source is back.
	ErrNoSources = errors.New("no source left to download from")
	// ErrExists means the destination exists and Options.Force is not set;
	// the destination is left as it is.
	ErrExists = errors.New("destination already exists")
	// ErrNotFound means no online peer shares a file matching the query.
	ErrNotFound = errors.New("no online peer shares a matching file")
	// ErrMismatch means the downloaded content, every piece verified, does
	// not hash to the announced SHA-256: the announcement itself is
	// inconsistent. The partial file is removed.
	ErrMismatch = errors.New("content does not match its SHA-256")
	// ErrBadPiece means a source sent a piece that does not match its
	// hash; the source is dropped for the rest of the download.
	ErrBadPiece = errors.New("piece does not match its hash")
	// ErrBadSource means a source describes the file differently from the
	// directory (size, SHA-256, piece size or piece root); it is dropped.
	ErrBadSource = errors.New("source describes another content")
	// ErrStalled means a source sent nothing for Options.StallTimeout: it
	// did not answer Stat (it is dropped), or sent no byte of the pieces
	// assigned to it (they are re-assigned; it is dropped after MaxStalls
	// stalls in a row).
	ErrStalled = errors.New("source stalled")
	// ErrBadTarget means the announced content is malformed: a SHA-256 or
	// piece root that is not 64 lowercase hex digits, or a piece size
	// outside MinPieceSize to MaxPieceSize. Nothing was written.
	ErrBadTarget = errors.New("announced content is malformed")
	// ErrTooLarge means the announced content is larger than a download
	// may be: over MaxSize bytes or MaxPieces pieces. Nothing was
	// allocated or written.
	ErrTooLarge = errors.New("announced content too large")
	// ErrNoSpace means the announced content does not fit in the output
	// folder's free disk space. It is checked before any source is
	// contacted; nothing was written.
	ErrNoSpace = errors.New("not enough free disk space")
	// ErrDiskFull means the output folder's disk (or the user's quota)
	// filled up while the download wrote to it: ENOSPC or EDQUOT from a
	// write that reserving the space up front did not cover (a file system
	// that cannot reserve, a copy-on-write one). The partial file and its
	// state are kept, as after any failure with pieces on disk: free some
	// space and the same call resumes.
	ErrDiskFull = errors.New("disk full")
)

// Defaults of Options.
const (
	// DefaultPiecesPerSource is how many pieces may be in flight at one
	// source at once: enough to keep a loopback or LAN link busy while a
	// piece is verified, few enough that a slow source holds back little at
	// the end.
	DefaultPiecesPerSource = 4
	// DefaultPiecesPerRequest is how many consecutive pieces one Download
	// call asks for: all of DefaultPiecesPerSource, so a download runs one
	// stream per source. The serving peer holds a verified piece and a
	// chunk per running stream, so one stream instead of two per get
	// lowers its peak RSS (4 parallel gets of 512 MiB: RssAnon 23 -> 19-20
	// MiB, its CPU -40 %) at no measured cost to get's speed
	// (docs/BENCHMARKS.md, "One stream per get"); what is in flight per
	// source, and so what a link's round trip allows, stays
	// DefaultPiecesPerSource pieces either way.
	DefaultPiecesPerRequest = 4
	// DefaultStallTimeout is how long a source may send nothing (no answer
	// to Stat, no byte of a piece) before its call is cancelled. A source
	// that hangs on Stat is dropped after one stall, one that hangs on
	// pieces after MaxStalls in a row, so a download whose sources all hang
	// fails within MaxStalls stall timeouts (about 16 s), not after every
	// retry of every source.
	DefaultStallTimeout = 8 * time.Second
	// MaxStalls is how many stalls in a row (without a piece delivered in
	// between) drop a source that answered Stat. A single stall may be a
	// loaded machine; two in a row is a hung peer.
	MaxStalls = 2
	// DefaultMaxRetries is how many failures in a row (without a piece
	// delivered in between) a source may have before it is dropped.
	DefaultMaxRetries = 4
	// DefaultRetryDelay is the wait after a source's first failure; it
	// doubles with each further failure in a row, up to MaxRetryDelay.
	DefaultRetryDelay = 200 * time.Millisecond
	// MaxRetryDelay caps the wait between two attempts at one source.
	MaxRetryDelay = 5 * time.Second
	// DefaultCommitInterval is how often the pieces written since the last
	// time are recorded in the state file (in place, unsynced: see
	// state.go): what a crash may cost at most, in time of downloading.
	DefaultCommitInterval = time.Second
	// DefaultProgressInterval is how often Options.Progress is called.
	DefaultProgressInterval = 200 * time.Millisecond
	// RateWindow is the span over which Progress.Rate is measured.
	RateWindow = 3 * time.Second
)

// Target is the content to download, as the directory announced it (one
// directoryv1.SearchResult).
type Target struct {
	// SHA256 is the content's SHA-256, 64 lowercase hex digits. Required.
	SHA256 string
	// Size is the content's length in bytes.
	Size int64
	// PieceSize is the length of every piece but the last, in bytes; zero
	// means pieces.Size, the one peerhub's peers use. A source that says
	// otherwise is dropped.
	PieceSize int64
	// PieceRoot is the SHA-256 of the piece hashes, 64 lowercase hex
	// digits. Required: each source's piece list is checked against it on
	// its own, so a source that lies drops only itself (trusting the first
	// list that came would let a liar that answers first fail the honest
	// sources).
	PieceRoot string
}

// Source is one peer that has the content.
type Source struct {
	// Peer is the peer's name, for reports.
	Peer string
	// Address is the base URL of the peer's PeerService.
	Address string
	// Name is the file's name at that peer (informational: pieces are
	// asked for by SHA-256).
	Name string
	// Relayed says the directory lists the peer as reachable only through
	// its relay (Options.Routes then skips the direct dial).
	Relayed bool
	// Pin is the peer's TLS identity as the directory vouches for it: an
	// https:// Address is accepted only from a server with that key.
	Pin identity.Pin
}

// String names the source in messages.
func (s Source) String() string {
	if s.Peer != "" {
		return s.Peer
	}
	return s.Address
}

// Options configure Download. Dest is required; the rest have defaults.
type Options struct {
	// Dest is the path the file gets once complete and verified. The
	// partial and state files live beside it. Its last element must be a
	// portable name (sharepath.CheckSegment); the folder must exist.
	Dest string
	// Force replaces an existing Dest; without it Download refuses
	// (ErrExists) and leaves it as it is.
	Force bool
	// Tokens gives the token for each source: a download token issued for
	// that peer (session.Tokens of DOWNLOAD scope). It is asked at every
	// call and told of a refusal, so a download longer than a token's life
	// renews its tokens, and a source that refused one is tried again.
	Tokens TokenSource
	// Token is sent as the bearer token to every source when Tokens is nil:
	// one fixed token (tests, or a token good at every source). Peers
	// accept only download tokens addressed to themselves.
	Token *rpcclient.Token
	// HTTPClient carries the calls; rpcclient.NewHTTPClient() if nil.
	HTTPClient *http.Client
	// Routes, if set, gives each source's client instead of HTTPClient:
	// a *Relay reaches sources directly or through the directory's relay.
	Routes Router
	// ClientOptions are added to every PeerService client (tests).
	ClientOptions []connect.ClientOption
	// PiecesPerSource is how many pieces may be in flight at one source;
	// DefaultPiecesPerSource if zero. It is lowered for contents of large
	// pieces, so that at most 8 MiB (at least one piece) is in flight at
	// one source.
	PiecesPerSource int
	// PiecesPerRequest is how many consecutive pieces one Download call
	// asks for, at most PiecesPerSource; DefaultPiecesPerRequest if zero.
	PiecesPerRequest int
	// StallTimeout cancels a call to a source that sent nothing for this
	// long (see ErrStalled); DefaultStallTimeout if zero.
	StallTimeout time.Duration
	// MaxRetries is how many failures in a row drop a source;
	// DefaultMaxRetries if zero.
	MaxRetries int
	// RetryDelay is the wait after a source's first failure in a row;
	// DefaultRetryDelay if zero.
	RetryDelay time.Duration
	// BusyWait is how long a source that refuses as busy is asked again
	// before it is dropped (see busy.go); DefaultBusyWait if zero.
	BusyWait time.Duration
	// CommitInterval is how often written pieces are recorded in the
	// state file; DefaultCommitInterval if zero.
	CommitInterval time.Duration
	// OpenFolder opens the output folder; outfs.Open (the operating
	// system's file system) if nil. Tests pass an outfs.Faulty over it to
	// make the disk fill at a chosen write.
	OpenFolder func(dir string) (outfs.Folder, error)
	// Progress, if set, is called every ProgressInterval and once at the
	// end, from one goroutine at a time. It must return quickly; it may
	// cancel the download's context.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called;
	// DefaultProgressInterval if zero.
	ProgressInterval time.Duration
}

// Progress is a download's state at one moment.
type Progress struct {
	// Done is how many bytes are verified and on disk, resumed ones
	// included.
	Done int64
	// Total is the content's size in bytes.
	Total int64
	// Resumed is how many bytes were already on disk from an earlier run.
	Resumed int64
	// Rate is the download speed over the last RateWindow, in bytes per
	// second.
	Rate float64
	// PiecesDone and Pieces count verified pieces and all pieces.
	PiecesDone, Pieces int
	// Sources is how many sources are in use (not dropped).
	Sources int
	// Elapsed is the time since Download started.
	Elapsed time.Duration
	// Final is set on the last call, when the download ended (well or
	// not).
	Final bool
}

// Result reports a download, whether it succeeded or not.
type Result struct {
	// Path is where the file is: Dest once complete, else the partial
	// file (empty when nothing was kept).
	Path string
	// SHA256 is the content's SHA-256.
	SHA256 string
	// Size is the content's length in bytes.
	Size int64
	// Pieces is how many pieces the content has.
	Pieces int
	// FetchedBytes and FetchedPieces count what this run downloaded and
	// verified (bad pieces not included).
	FetchedBytes  int64
	FetchedPieces int
	// ResumedBytes and ResumedPieces count what an earlier run had left
	// on disk and this one kept.
	ResumedBytes  int64
	ResumedPieces int
	// Elapsed is how long the download ran.
	Elapsed time.Duration
	// Sources reports each source, in the order given.
	Sources []SourceResult
}

// SourceResult reports what one source did for a download.
type SourceResult struct {
	Source
	// Pieces and Bytes count the verified pieces it delivered.
	Pieces int
	Bytes  int64
	// Dropped says the source was given up on, for Err.
	Dropped bool
	// Err is why it was dropped, or its last failure.
	Err error
}
