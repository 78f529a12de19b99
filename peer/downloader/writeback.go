package downloader

import "sync/atomic"

// writebackBytes is how much piece data (in bytes) is written to the
// partial file between two writeback hints (File.StartWriteback), so that
// the disk writes a download while it arrives. With a hint once per commit
// interval (a second) only, a download shorter than that left all of its
// data to the final fsync.
const writebackBytes = 8 << 20

// writeback counts the bytes written to the partial file and wakes the
// writeback loop every writebackBytes, which hints off the verifiers'
// goroutines (a hint may wait for the device).
type writeback struct {
	written atomic.Int64  // piece bytes written by the verifiers
	kick    chan struct{} // capacity 1: a pending wake-up
}

func newWriteback() *writeback { return &writeback{kick: make(chan struct{}, 1)} }

// wrote records n bytes written and wakes the loop when they cross a
// multiple of writebackBytes. Wake-ups the loop has not taken yet merge
// into one; it reads the total, so nothing is lost.
func (w *writeback) wrote(n int64) {
	t := w.written.Add(n)
	if t/writebackBytes == (t-n)/writebackBytes {
		return
	}
	select {
	case w.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// writebackLoop starts the writeback of the partial file's dirty data each
// time the verifiers wrote writebackBytes more, until stop is closed. It
// never syncs: the one sync is the final one (finish), which alone makes
// the file durable; periodic syncs in the background shortened that final
// one further on the development machine's virtual disk, but were not
// adopted (docs/BENCHMARKS.md). A failed hint only leaves the writing to
// the final sync.
func (e *engine) writebackLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-e.wb.kick:
		}
		e.f.StartWriteback(0, 0)
	}
}
