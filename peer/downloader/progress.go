package downloader

import (
	"sync"
	"time"
)

// progress is the download's state now.
func (e *engine) progress(r *rateMeter) Progress {
	e.mu.Lock()
	p := Progress{
		Done:       e.doneBytes,
		Total:      e.t.Size,
		Resumed:    e.resumedBytes,
		PiecesDone: e.ndone,
		Pieces:     e.n,
		Elapsed:    time.Since(e.start),
	}
	fetched := e.fetchedBytes
	for _, s := range e.srcs {
		if s.statted && !s.dropped {
			p.Sources++
		}
	}
	e.mu.Unlock()
	p.Rate = r.add(time.Now(), fetched)
	return p
}

// progressLoop calls Options.Progress every ProgressInterval until stop is
// closed.
func (e *engine) progressLoop(stop <-chan struct{}, r *rateMeter) {
	every(stop, e.o.ProgressInterval, func() bool {
		e.o.Progress(e.progress(r))
		return true
	})
}

// rateMeter measures a rate over the last RateWindow from samples of a
// growing count.
type rateMeter struct {
	mu      sync.Mutex
	samples []rateSample
}

type rateSample struct {
	at time.Time
	n  int64
}

func newRateMeter() *rateMeter { return &rateMeter{} }

// add records that the count is n at time now and returns the rate per
// second since the oldest sample in the window.
func (r *rateMeter) add(now time.Time, n int64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, rateSample{now, n})
	cut := 0
	for cut < len(r.samples)-1 && now.Sub(r.samples[cut].at) > RateWindow {
		cut++
	}
	r.samples = r.samples[cut:]
	first := r.samples[0]
	dt := now.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(n-first.n) / dt
}
