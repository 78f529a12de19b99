package downloader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// freePieces is how many idle piece buffers are kept for reuse (in pieces).
const freePieces = 64

// pieceState is where a piece is in its life.
type pieceState uint8

const (
	missing   pieceState = iota // in the queue
	assigned                    // asked for from a source
	verifying                   // received, queued for verification
	done                        // verified and written
)

// received is a piece that arrived whole, on its way to a verifier.
type received struct {
	i   int
	buf []byte
	src *source
}

// source is one source's state during a download.
type source struct {
	Source
	cancel context.CancelCauseFunc

	// Guarded by engine.mu.
	pieces  int
	bytes   int64
	fails   int // failures since the last piece it delivered
	statted bool
	dropped bool
	err     error
}

// engine is one Download call.
type engine struct {
	t       Target
	o       Options
	http    *http.Client
	ownHTTP bool // http was made for this download: close its connections after
	copts   []connect.ClientOption
	n       int   // pieces
	psize   int64 // piece size in bytes
	partial string
	state   string
	f       *os.File
	start   time.Time
	verifyQ chan received

	freeMu sync.Mutex
	free   [][]byte

	mu   sync.Mutex
	cond *sync.Cond
	// Everything below is guarded by mu.
	srcs          []*source
	live          int // sources not dropped
	st            []pieceState
	owners        []uint8   // streams fetching each piece: 2 in the endgame
	owner         []*source // the source that first claimed each piece
	unchecked     bitmap    // resumed pieces the hasher has not verified yet
	cursor        int       // no missing piece below it
	nmissing      int
	nverifying    int
	ndone         int
	doneBytes     int64
	fetchedBytes  int64
	fetchedPieces int
	resumedBytes  int64
	resumedPieces int
	hashes        [][32]byte // nil until a source's piece list is accepted
	root          [32]byte
	held          map[int][]byte
	hashNext      int
	whole         *[32]byte // set once the hasher is through
	fatal         error
	stopped       bool
	committed     bitmap
}

func newEngine(t Target, sources []Source, o Options) (*engine, error) {
	if !pieces.IsHex(t.SHA256) {
		return nil, fmt.Errorf("download: sha256 %q: want 64 lowercase hex digits", t.SHA256)
	}
	if t.Size < 0 {
		return nil, fmt.Errorf("download: negative size %d", t.Size)
	}
	if o.Dest == "" {
		return nil, errors.New("download: no destination given")
	}
	if t.PieceSize == 0 {
		t.PieceSize = pieces.Size
	}
	if t.PieceSize < 1 || t.PieceSize > 1<<24 {
		return nil, fmt.Errorf("download: piece size %d out of range", t.PieceSize)
	}
	o.PiecesPerSource = cmp.Or(max(o.PiecesPerSource, 0), DefaultPiecesPerSource)
	o.PiecesPerRequest = min(cmp.Or(max(o.PiecesPerRequest, 0), DefaultPiecesPerRequest), o.PiecesPerSource)
	o.StallTimeout = cmp.Or(max(o.StallTimeout, 0), DefaultStallTimeout)
	o.MaxRetries = cmp.Or(max(o.MaxRetries, 0), DefaultMaxRetries)
	o.RetryDelay = cmp.Or(max(o.RetryDelay, 0), DefaultRetryDelay)
	o.CommitInterval = cmp.Or(max(o.CommitInterval, 0), DefaultCommitInterval)
	o.ProgressInterval = cmp.Or(max(o.ProgressInterval, 0), DefaultProgressInterval)
	if o.Token == nil {
		o.Token = new(rpcclient.Token)
	}
	hc, own := o.HTTPClient, false
	if hc == nil {
		hc, own = rpcclient.NewHTTPClient(), true
	}
	n := int((t.Size + t.PieceSize - 1) / t.PieceSize)
	e := &engine{
		t:       t,
		o:       o,
		http:    hc,
		ownHTTP: own,
		copts:   rpcclient.Options(o.Token, append([]connect.ClientOption{rpcclient.NoCompression()}, o.ClientOptions...)...),
		n:       n,
		psize:   t.PieceSize,
		partial: partialPath(o.Dest),
		state:   statePath(o.Dest),
		verifyQ: make(chan received, runtime.GOMAXPROCS(0)),
		st:      make([]pieceState, n),
		owners:  make([]uint8, n),
		owner:   make([]*source, n),
		held:    map[int][]byte{},
	}
	e.cond = sync.NewCond(&e.mu)
	seen := map[string]bool{}
	for _, s := range sources {
		if s.Address == "" || seen[s.Address] {
			continue
		}
		seen[s.Address] = true
		e.srcs = append(e.srcs, &source{Source: s})
	}
	e.live = len(e.srcs)
	return e, nil
}

// bounds returns the offset and length of piece i.
func (e *engine) bounds(i int) (off, n int64) {
	off = int64(i) * e.psize
	return off, min(e.psize, e.t.Size-off)
}

// getBuf returns a piece buffer of e.psize bytes.
func (e *engine) getBuf() []byte {
	e.freeMu.Lock()
	defer e.freeMu.Unlock()
	if k := len(e.free); k > 0 {
		b := e.free[k-1]
		e.free = e.free[:k-1]
		return b
	}
	return make([]byte, e.psize)
}

// putBuf gives a piece buffer back.
func (e *engine) putBuf(b []byte) {
	e.freeMu.Lock()
	defer e.freeMu.Unlock()
	if len(e.free) < freePieces {
		e.free = append(e.free, b[:cap(b)])
	}
}

// open checks the destination and opens the partial file, resuming it when
// its state file describes the same content and the file has the right
// size; otherwise it starts over.
func (e *engine) open() error {
	if !e.o.Force {
		if _, err := os.Lstat(e.o.Dest); err == nil {
			return fmt.Errorf("%s: %w (use force to replace it)", e.o.Dest, ErrExists)
		}
	}
	if fi, err := os.Stat(e.o.Dest); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %w and is a folder", e.o.Dest, ErrExists)
	}
	st, err := loadState(e.state)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(e.partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open partial file: %w", err)
	}
	e.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open partial file: %w", err)
	}
	e.unchecked = newBitmap(e.n)
	e.committed = newBitmap(e.n)
	resume := st != nil && st.Version == stateVersion && st.SHA256 == e.t.SHA256 &&
		st.Size == e.t.Size && st.PieceSize == e.psize && fi.Size() == e.t.Size &&
		(e.t.PieceRoot == "" || st.PieceRoot == "" || st.PieceRoot == e.t.PieceRoot) &&
		bitmap(st.Done).fits(e.n)
	if resume {
		have := bitmap(st.Done)
		for i := range e.n {
			if have.has(i) {
				_, n := e.bounds(i)
				e.st[i] = done
				e.unchecked.set(i)
				e.committed.set(i)
				e.ndone++
				e.doneBytes += n
				e.resumedPieces++
				e.resumedBytes += n
			}
		}
	} else {
		// Stale or foreign: start over, at full size so that pieces can
		// be written at their offsets in any order.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("reset partial file: %w", err)
		}
		if err := preallocate(f, e.t.Size); err != nil {
			return fmt.Errorf("reserve %d bytes for %s: %w", e.t.Size, e.partial, err)
		}
		os.Remove(e.state)
	}
	e.nmissing = e.n - e.ndone
	return nil
}
