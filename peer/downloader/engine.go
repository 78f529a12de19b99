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

	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// freeBytes is how much memory idle piece buffers kept for reuse may take
// (in bytes): 64 pieces of peerhub's 1 MiB, fewer of a larger piece size.
const freeBytes = 64 << 20

// sourceBytes caps the pieces in flight at one source (in bytes): a content
// announced with large pieces gets fewer pieces per source, so that its
// (untrusted) piece size cannot multiply the memory a download takes.
const sourceBytes = 8 << 20

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
	// check: the verifier checks the piece against its hash before
	// writing it. Otherwise the piece is written unchecked and only the
	// whole-content hash vouches for it (see locate.go).
	check bool
}

// source is one source's state during a download.
type source struct {
	Source
	cancel context.CancelCauseFunc

	// Guarded by engine.mu.
	pieces  int
	bytes   int64
	fails   int // failures since the last piece it delivered
	stalls  int // stalls since the last piece it delivered
	streams int // its streams still running (runSource's)
	// busySince is when it first refused as busy since the last piece it
	// delivered; zero while it is not refusing (see busy.go).
	busySince time.Time
	statted   bool
	dropped   bool
	err       error
}

// engine is one Download call.
type engine struct {
	t    Target
	o    Options
	http *http.Client
	// peers picks each source's client: http for http:// sources, a
	// client that accepts only the source's pin for https:// ones.
	peers   *rpcclient.PeerClients
	ownHTTP bool // http was made for this download: close its connections after
	copts   []connect.ClientOption
	n       int   // pieces
	psize   int64 // piece size in bytes
	dir     *folder
	f       outfs.File // the partial file
	sf      outfs.File // the state file
	// gen is the generation of the state record last written (commit.go);
	// rec is the buffer a record is encoded in. Used by one commit at a
	// time: the commit loop, then keep once it stopped.
	gen     uint64
	rec     []byte
	start   time.Time
	verifyQ chan received
	wb      *writeback

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
	lazy          bitmap    // pieces written without their hash checked (locate.go)
	from          []*source // the source whose copy of each lazy piece was written
	located       bool      // a liar was found by locate: check every piece from now on
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
	commitErr     error // the last commit's, from commitLoop
}

// newEngine checks the target and options and sets a download up. It
// allocates nothing that grows with the announced size: that waits for
// prepare, once the size has passed the limits and the free disk check.
func newEngine(t Target, sources []Source, o Options) (*engine, error) {
	if err := checkTarget(&t); err != nil {
		return nil, err
	}
	if o.Dest == "" {
		return nil, errors.New("download: no destination given")
	}
	o.PiecesPerSource = cmp.Or(max(o.PiecesPerSource, 0), DefaultPiecesPerSource)
	o.PiecesPerSource = min(o.PiecesPerSource, max(1, int(sourceBytes/t.PieceSize)))
	o.PiecesPerRequest = min(cmp.Or(max(o.PiecesPerRequest, 0), DefaultPiecesPerRequest), o.PiecesPerSource)
	o.StallTimeout = cmp.Or(max(o.StallTimeout, 0), DefaultStallTimeout)
	o.MaxRetries = cmp.Or(max(o.MaxRetries, 0), DefaultMaxRetries)
	o.BusyWait = cmp.Or(max(o.BusyWait, 0), DefaultBusyWait)
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
	extra := append([]connect.ClientOption{rpcclient.NoCompression(), connect.WithReadMaxBytes(maxResponseBytes)}, o.ClientOptions...)
	e := &engine{
		t:       t,
		o:       o,
		http:    hc,
		peers:   rpcclient.NewPeerClients(hc),
		ownHTTP: own,
		copts:   rpcclient.Options(o.Token, extra...),
		psize:   t.PieceSize,
		verifyQ: make(chan received, runtime.GOMAXPROCS(0)),
		wb:      newWriteback(),
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
	if int64(len(e.free)) < max(1, freeBytes/e.psize) {
		e.free = append(e.free, b[:cap(b)])
	}
}

// prepare readies the download before any source is contacted: it opens
// the output folder, checks the destination, checks that the content fits
// on the disk and within MaxPieces, and only then allocates the per-piece
// bookkeeping and opens the partial file (see open).
func (e *engine) prepare() error {
	dir, err := openFolder(e.o.Dest, e.o.OpenFolder)
	if err != nil {
		return err
	}
	e.dir = dir
	dir.sweep(time.Now())
	fi, err := dir.lstat(dir.name)
	switch {
	case err != nil:
		return fmt.Errorf("download: %w", err)
	case fi != nil && fi.IsDir():
		return fmt.Errorf("%s: %w and is a folder", e.o.Dest, ErrExists)
	case fi != nil && !e.o.Force:
		return fmt.Errorf("%s: %w (use force to replace it)", e.o.Dest, ErrExists)
	}
	if err := e.checkSpace(); err != nil {
		return err
	}
	n := pieceCount(e.t.Size, e.psize)
	if err := checkPieces(e.t, n); err != nil {
		return err
	}
	e.n = int(n)
	e.st = make([]pieceState, e.n)
	e.owners = make([]uint8, e.n)
	e.owner = make([]*source, e.n)
	e.from = make([]*source, e.n)
	return e.open()
}

// checkSpace refuses a content larger than the folder's free disk space,
// less what a partial file of it already holds. Where the free space is
// unknown, the preallocation (or a write) fails instead.
func (e *engine) checkSpace() error {
	free, err := e.dir.free()
	if err != nil {
		return nil
	}
	need := e.t.Size
	if fi, _ := e.dir.lstat(e.dir.partial); fi != nil && fi.Mode().IsRegular() {
		need -= min(fi.Size(), need)
	}
	switch {
	case need <= free:
		return nil
	case need == e.t.Size:
		return fmt.Errorf("%w in %s: the file is %s and %s are free", ErrNoSpace, e.dir.dir, humansize.Format(need), humansize.Format(free))
	default:
		return fmt.Errorf("%w in %s: the file is %s, %s more are needed and %s are free",
			ErrNoSpace, e.dir.dir, humansize.Format(e.t.Size), humansize.Format(need), humansize.Format(free))
	}
}

// open opens the partial file and its state file, resuming them when the
// state file records the same content and the partial file has the right
// size; otherwise it starts over with both reserved at their full size. A
// partial or state file that is a symbolic link (or not a regular file of
// its own) is refused, never followed.
func (e *engine) open() error {
	c := e.content()
	sf, gen, have, err := e.loadState(c)
	if err != nil {
		return err
	}
	f, err := e.dir.openExisting(e.dir.partial, os.O_RDWR)
	created := false
	if err == nil && f == nil {
		f, err = e.dir.create(e.dir.partial)
		created = err == nil
	}
	if err != nil {
		closeFile(sf)
		return fmt.Errorf("open partial file: %w", err)
	}
	e.f = f
	e.rec = make([]byte, recordSize(e.n))
	e.unchecked = newBitmap(e.n)
	e.lazy = newBitmap(e.n)
	e.committed = newBitmap(e.n)
	fi, err := f.Stat()
	if err != nil {
		closeFile(sf)
		return fmt.Errorf("open partial file: %w", err)
	}
	if have != nil && fi.Size() == e.t.Size {
		e.sf, e.gen = sf, gen
		if sf == nil {
			// An earlier version's state: a new state file in place of
			// it, holding what it recorded.
			if err := e.newStateFile(); err != nil {
				return err
			}
			e.content().encodeRecord(e.rec, 1, have)
			if _, err := e.sf.WriteAt(e.rec, recordSize(e.n)); err != nil {
				return fmt.Errorf("save download state in %s: %w", e.dir.path(e.dir.state), diskFull(err))
			}
			e.gen = 1
		}
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
		closeFile(sf)
		if err := e.startOver(created); err != nil {
			return err
		}
	}
	e.nmissing = e.n - e.ndone
	return nil
}

// startOver empties the partial file and reserves it at full size (so
// that pieces can be written at their offsets in any order), then replaces
// the state file with a new one reserved at its full size too, so that no
// later save needs a new block. On failure a partial file this run created
// (created) is removed: it holds nothing. One from before stays: it is not
// this run's to remove.
func (e *engine) startOver(created bool) error {
	d := e.dir
	fail := func(err error) error {
		e.f.Close()
		e.f = nil
		if e.sf != nil {
			e.sf.Close()
			e.sf = nil
			d.remove(d.state)
		}
		if created {
			d.remove(d.partial)
		}
		return err
	}
	if err := e.f.Truncate(0); err != nil {
		return fail(fmt.Errorf("reset partial file: %w", diskFull(err)))
	}
	if err := e.f.Allocate(e.t.Size); err != nil {
		return fail(fmt.Errorf("reserve %s for %s: %w", humansize.Format(e.t.Size), d.path(d.partial), diskFull(err)))
	}
	if err := e.newStateFile(); err != nil {
		return fail(err)
	}
	return nil
}

// newStateFile replaces the state file with a new one reserved at its full
// size, so that no save needs a new block; on failure none is left.
func (e *engine) newStateFile() error {
	d := e.dir
	if err := d.remove(d.state); err != nil {
		return fmt.Errorf("remove stale download state: %w", err)
	}
	sf, err := d.create(d.state)
	if err != nil {
		return fmt.Errorf("create download state: %w", diskFull(err))
	}
	if err := sf.Allocate(stateSize(e.n)); err != nil {
		sf.Close()
		d.remove(d.state)
		return fmt.Errorf("reserve download state %s: %w", d.path(d.state), diskFull(err))
	}
	e.sf = sf
	return nil
}

// content is what the state file must describe for this download.
func (e *engine) content() content { return content{t: e.t, psize: e.psize, n: e.n} }

// loadState opens the state file and reads which pieces it records. A
// missing, torn or foreign one, or one of another size, is (nil, 0, nil,
// nil): the download starts over. A link or other non-regular file is an
// error. With a usable state, f is the state file, open for writing, and
// gen the generation of the record read.
func (e *engine) loadState(c content) (f outfs.File, gen uint64, done bitmap, err error) {
	f, err = e.dir.openExisting(e.dir.state, os.O_RDWR)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read download state: %w", err)
	}
	if f == nil {
		return nil, 0, nil, nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != stateSize(c.n) && fi.Size() > maxLegacyStateBytes {
		f.Close()
		return nil, 0, nil, nil
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		f.Close()
		return nil, 0, nil, nil
	}
	gen, done, ok := c.decodeState(data)
	if ok {
		return f, gen, done, nil
	}
	f.Close()
	// An earlier version's JSON state: resumed with no file (f nil), so
	// that open writes it anew in this format.
	if done, ok := c.decodeLegacyState(data); ok {
		return nil, 0, done, nil
	}
	return nil, 0, nil, nil
}

// closeFile closes f if it is open.
func closeFile(f outfs.File) {
	if f != nil {
		f.Close()
	}
}
