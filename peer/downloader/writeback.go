package downloader

import "sync/atomic"

// writebackBytes is how much piece data (in bytes) is written to the
// partial file between two writeback hints (File.StartWriteback), so that
// the disk writes a download while it arrives. With a hint once per commit
// interval (a second) only, a download shorter than that left all of its
// data to the final fsync.
const writebackBytes = 8 << 20

// flushBytes is how much piece data (in bytes) is written between two
// background syncs of the partial file. Writeback alone does not empty the
// device's write cache: on the development machine's ext4 (a virtual
// disk) the final fsync of 100 MiB took 50–55 ms even with every page
// already written back. Data written at 250 MiB/s and synced in the
// background every 32 MiB left 17–22 ms to the end (the last sync's
// wait and the final one), every 16 MiB 4–7 ms, every 8 MiB 4–5 ms, with
// no slower writes (a test program, 1 MiB writes every 3 ms).
// These syncs make nothing durable that the download relies on (the final
// sync in finish does); they only spread the device's flushing over the
// transfer. A failed one fails the download at finish, as the final sync
// would: after a failed fsync the kernel may report the lost pages to no
// later one.
const flushBytes = 16 << 20

// writeback counts the bytes written to the partial file and wakes the
// writeback loop every writebackBytes, which hints and syncs off the
// verifiers' goroutines (both may wait for the device).
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
// time the verifiers wrote writebackBytes more, and syncs it in the
// background every flushBytes, until stop is closed. A failed hint only
// leaves the writing to a later sync; a failed sync is kept in
// e.flushErr for finish.
func (e *engine) writebackLoop(stop <-chan struct{}) {
	var synced int64
	for {
		select {
		case <-stop:
			return
		case <-e.wb.kick:
		}
		e.f.StartWriteback(0, 0)
		if t := e.wb.written.Load(); t-synced >= flushBytes {
			synced = t
			if err := e.f.Sync(); err != nil {
				e.mu.Lock()
				if e.flushErr == nil {
					e.flushErr = err
				}
				e.mu.Unlock()
			}
		}
	}
}
