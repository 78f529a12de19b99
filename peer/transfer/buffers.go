package transfer

import "github.com/peerhub/peerhub/internal/pieces"

// DefaultIdleBuffers is how many piece buffers (pieces.Size each) a Service
// keeps between downloads: one account's DefaultMaxPerAccount downloads
// start again without allocating, and an idle peer holds 4 MiB at most
// for them, however many downloads ran at once before.
const DefaultIdleBuffers = DefaultMaxPerAccount

// pieceBuffers lends the buffers each running download reads and verifies
// a whole piece into (readPiece). Buffers in use are bounded by the
// transfer slots (one per running download, Options.MaxTransfers); idle
// ones by the free list's capacity.
//
// It is a free list rather than a sync.Pool on purpose: a sync.Pool drops
// its contents at every other garbage collection, and under a memory limit
// (the peer sets one, see peer.Config.MemoryLimit) collections come often,
// so every download would allocate its MiB again, and that garbage would
// itself bring the next collection sooner.
type pieceBuffers struct {
	free chan *[]byte
}

func newPieceBuffers(idle int) *pieceBuffers {
	return &pieceBuffers{free: make(chan *[]byte, max(idle, 0))}
}

// get returns an idle buffer, or a new one when none is idle.
func (p *pieceBuffers) get() *[]byte {
	select {
	case b := <-p.free:
		return b
	default:
		b := make([]byte, pieces.Size)
		return &b
	}
}

// put gives b back; it is kept if fewer than the capacity are idle, else
// left to the garbage collector.
func (p *pieceBuffers) put(b *[]byte) {
	select {
	case p.free <- b:
	default:
	}
}

// idle is how many buffers wait in the free list.
func (p *pieceBuffers) idle() int { return len(p.free) }
