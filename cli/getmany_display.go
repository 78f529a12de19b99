package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/peer/downloader"
)

// Limits of the terminal display of a get of several files.
const (
	// maxShownDownloads is how many running downloads get one line each;
	// the others are counted on one more line.
	maxShownDownloads = 8
	// defaultWidth is the terminal width, in columns, assumed when it
	// cannot be read.
	defaultWidth = 80
)

// manyDisplay is the one progress display of a get of several files:
//   - on a terminal (standard error), a block of lines redrawn in place:
//     a total line and one line per running download; the lines of
//     finished downloads are printed above it and stay;
//   - with --json, one event per line on standard output, each naming its
//     file: progress, waiting, done, failed, and the summary last;
//   - otherwise, a total line on standard error every plainInterval and a
//     line per finished download.
//
// Saved files are listed on standard output (with --json, as done
// events), everything else on standard error. Its methods are safe for
// concurrent use.
type manyDisplay struct {
	mu    sync.Mutex
	mode  int       // reportPlain, reportBar or reportJSON
	out   io.Writer // standard output
	err   io.Writer // standard error
	width int       // terminal columns

	running    []*downloadView // in start order
	drawn      int             // lines of the block on the terminal now
	files      int             // downloads added
	saved      int
	failures   int
	totalBytes int64 // sizes of the downloads added, where known
	doneBytes  int64 // bytes of the finished downloads
	start      time.Time

	stop chan struct{}
	loop sync.WaitGroup
}

// downloadView is one running download in the display.
type downloadView struct {
	d        *manyDisplay
	label    string
	size     int64
	p        downloader.Progress
	lastJSON time.Time
}

// newManyDisplay starts the display that fits standard error (and
// --json).
func newManyDisplay(g *globals, asJSON bool) *manyDisplay {
	d := &manyDisplay{out: g.streams.Out, err: g.streams.Err, width: defaultWidth, start: time.Now(), stop: make(chan struct{})}
	switch {
	case asJSON:
		d.mode = reportJSON
		return d
	case isTerminal(g.streams.Err):
		d.mode = reportBar
		if w, _, err := term.GetSize(int(g.streams.Err.(*os.File).Fd())); err == nil && w > 20 {
			d.width = w
		}
	}
	every := plainInterval
	if d.mode == reportBar {
		every = barInterval
	}
	d.loop.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d.tick()
			case <-d.stop:
				return
			}
		}
	})
	return d
}

// globals is g with standard output and error going through the display,
// for code that prints as it goes (get --wait's waiter).
func (d *manyDisplay) globals(g *globals) *globals {
	c := *g
	c.streams.Out = displayWriter{d, true}
	c.streams.Err = displayWriter{d, false}
	return &c
}

// displayWriter writes whole lines above the display's block.
type displayWriter struct {
	d   *manyDisplay
	out bool // standard output, else standard error
}

func (w displayWriter) Write(b []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.d.above(func() {
		if w.out {
			w.d.out.Write(b)
		} else {
			w.d.err.Write(b)
		}
	})
	return len(b), nil
}

// added counts a download added, of size bytes (0 if not known yet).
func (d *manyDisplay) added(size int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files++
	d.totalBytes += size
}

// begin shows a download that starts, of size bytes as counted by added.
func (d *manyDisplay) begin(label string, size int64) *downloadView {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := &downloadView{d: d, label: label, size: size}
	d.running = append(d.running, v)
	return v
}

// sized tells the size of a download resolved only when it started (or
// again, for one that was already known: no change).
func (v *downloadView) sized(size int64) {
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	if v.size == 0 {
		v.size = size
		v.d.totalBytes += size
	}
}

// progress is the download's downloader.Options.Progress.
func (v *downloadView) progress(p downloader.Progress) {
	d := v.d
	d.mu.Lock()
	defer d.mu.Unlock()
	v.p = p
	if d.mode == reportJSON && (p.Final || time.Since(v.lastJSON) >= jsonInterval) {
		v.lastJSON = time.Now()
		printJSON(d.out, getProgress{
			Event: "progress", Name: v.label, Done: p.Done, Total: p.Total, Resumed: p.Resumed,
			Rate: p.Rate, PiecesDone: p.PiecesDone, Pieces: p.Pieces, Sources: p.Sources,
			Seconds: p.Elapsed.Seconds(),
		})
	}
}

// end shows how a download ended and takes it off the block.
func (v *downloadView) end(ctx context.Context, o getOutcome) {
	d := v.d
	d.mu.Lock()
	for i, r := range d.running {
		if r == v {
			d.running = append(d.running[:i], d.running[i+1:]...)
			break
		}
	}
	d.mu.Unlock()
	switch {
	case o.err != nil:
		d.failed(o.label, o.dest, o.res, o.err, keptPartial(o.err, o.res))
	case o.same != "":
		d.mu.Lock()
		d.above(func() { fmt.Fprintf(d.err, "%s: the same file as %s, got once\n", o.label, o.same) })
		d.mu.Unlock()
	default:
		d.saved1(o.label, o.dest, o.res, o.had)
	}
}

// saved1 shows a download that succeeded, or found its file there
// already (had).
func (d *manyDisplay) saved1(label, dest string, res *downloader.Result, had bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.saved++
	d.doneBytes += res.Size
	if d.mode == reportJSON {
		printJSON(d.out, getDone{
			Event: "done", Name: label, Path: dest, SHA256: res.SHA256, Size: res.Size,
			Fetched: res.FetchedBytes, Resumed: res.ResumedBytes, Seconds: res.Elapsed.Seconds(),
			Sources: sourceCounts(res),
		})
		return
	}
	verb := "Saved"
	if had {
		verb = "Already there:"
	}
	d.above(func() {
		fmt.Fprintf(d.out, "%s %s (%s, sha256 %s)\n", verb, dest, humansize.Format(res.Size), res.SHA256)
	})
}

// failed shows a download that failed; partial is the partial file kept
// for a resume, if any.
func (d *manyDisplay) failed(label, dest string, res *downloader.Result, err error, partial string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures++
	msg := Message(err)
	if d.mode == reportJSON {
		var sha string
		if res != nil {
			sha = res.SHA256
		}
		printJSON(d.out, getFailedEvent{Event: "failed", Name: label, SHA256: sha, Path: dest, Error: msg, Partial: partial})
		return
	}
	if d.mode != reportBar {
		return // the summary at the end lists it
	}
	first, _, _ := strings.Cut(msg, "\n")
	d.above(func() { fmt.Fprintf(d.err, "Could not get %s: %s\n", label, first) })
}

// json prints one event line.
func (d *manyDisplay) json(v any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	printJSON(d.out, v)
}

// close stops the display and clears the terminal block; what was printed
// above it stays.
func (d *manyDisplay) close() {
	close(d.stop)
	d.loop.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
}

// tick redraws the terminal block, or prints the total line.
func (d *manyDisplay) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.mode {
	case reportBar:
		d.clear()
		d.draw()
	case reportPlain:
		fmt.Fprintln(d.err, d.totalLine())
	}
}

// above prints with print above the terminal block, which it redraws
// after; d.mu is held.
func (d *manyDisplay) above(print func()) {
	if d.mode != reportBar {
		print()
		return
	}
	d.clear()
	print()
	d.draw()
}

// clear erases the block: up to its first line, then to the end of the
// screen. d.mu is held.
func (d *manyDisplay) clear() {
	if d.drawn > 0 {
		fmt.Fprintf(d.err, "\x1b[%dA\r\x1b[J", d.drawn)
		d.drawn = 0
	}
}

// draw prints the block below the cursor. d.mu is held.
func (d *manyDisplay) draw() {
	lines := []string{d.totalLine()}
	for i, v := range d.running {
		if i == maxShownDownloads {
			lines = append(lines, fmt.Sprintf("  … and %d more", len(d.running)-i))
			break
		}
		lines = append(lines, v.line())
	}
	for _, l := range lines {
		fmt.Fprintln(d.err, fit(l, d.width-1))
	}
	d.drawn = len(lines)
}

// totalLine sums up every download: "Getting 50 files: 12 saved, 1
// failed, 3 running · 12.0 MiB of 40.0 MiB · 3.2 MiB/s". d.mu is held.
func (d *manyDisplay) totalLine() string {
	done := d.doneBytes
	var rate float64
	for _, v := range d.running {
		done += v.p.Done
		rate += v.p.Rate
	}
	line := fmt.Sprintf("Getting %d %s: %d saved", d.files, plural(d.files, "file", "files"), d.saved)
	if d.failures > 0 {
		line += fmt.Sprintf(", %d failed", d.failures)
	}
	line += fmt.Sprintf(", %d running · %s of %s", len(d.running), humansize.Format(done), humansize.Format(d.totalBytes))
	if d.totalBytes > 0 {
		line += fmt.Sprintf(" (%d%%)", percent(min(done, d.totalBytes), d.totalBytes))
	}
	return line + fmt.Sprintf(" · %s/s", humansize.Format(int64(rate)))
}

// line is a running download's line of the block. d.mu is held.
func (v *downloadView) line() string {
	p := v.p
	total := max(p.Total, v.size)
	if total == 0 && p.Elapsed == 0 {
		return "  " + v.label + "  starting"
	}
	return fmt.Sprintf("  %s  %3d%%  %s of %s  %s/s  %d %s", v.label, percent(p.Done, total),
		humansize.Format(p.Done), humansize.Format(total), humansize.Format(int64(p.Rate)), p.Sources, plural(p.Sources, "source", "sources"))
}

// fit cuts s to at most width characters, so that no line of the block
// wraps (which would break its redrawing).
func fit(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:max(width-1, 0)]) + "…"
}

// keptPartial is the partial file a failed download kept for the same
// command to resume, or "": Result.Path names it whenever one was kept
// (interrupted, out of sources, disk full, ...), and every such failure
// gets the resume hint.
func keptPartial(err error, res *downloader.Result) string {
	if err != nil && res != nil && res.Path != "" && !errors.Is(err, downloader.ErrExists) {
		return res.Path
	}
	return ""
}
