package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

func init() { commands = append(commands, newGetCommand) }

// How often get reports progress, by kind of output.
const (
	barInterval   = 100 * time.Millisecond // terminal progress bar
	jsonInterval  = 500 * time.Millisecond // --json progress events
	plainInterval = 2 * time.Second        // plain lines when not on a terminal
)

func newGetCommand(g *globals) *cobra.Command {
	var o clientOptions
	var outDir string
	var force bool
	var wait, stall time.Duration
	var watch bool
	var folders []string
	var parallel int
	cmd := &cobra.Command{
		Use:   "get [NAME|SHA256]... [--folder PEER:PATH]...",
		Short: "Download files from every online peer that shares them",
		Long: `Get finds a file by name (or by its SHA-256: all 64 hex digits, or the first
8 or more, any case, if no other file's hash starts so) and downloads
it from all the online peers that have it at once, verifying every piece as
it arrives (from a single peer: only if the whole file fails its check, to
find and ban the peer that lied) and the whole file at the end.

A name that several different files share (or a hash prefix several
hashes start with): on a terminal get lists them and asks which one;
otherwise it fails and lists their SHA-256, to pass instead.

The file is written to NAME.peerhub-partial in the output folder and takes
its name only once complete and verified. An interrupted get (Ctrl-C, lost
network, no peer left) keeps the partial file: the same command resumes it,
fetching only what is missing.

A source that sends nothing for --stall-timeout is dropped (its pieces go to
the others); a get whose sources all hang fails within two stall timeouts.
With --wait, get does not fail when no peer that shares the file is online,
or every one is gone or hung: it says it is waiting and asks the directory
again every second, resuming the download when a source comes (back), and
fails once --wait has passed without one.

With --watch, get is a wishlist: it downloads every file that matches
QUERY now, then each one that starts to match as peers publish it or come
online, until Ctrl-C (one QUERY, no --folder). Files already complete in
the output folder are skipped; one that fails is tried again when its
sources change.

Several names, or --folder PEER:PATH (a folder a peer shares, with its
subfolders, saved under -o as PATH's last segment), get several files in
one session, --parallel at a time, with one progress display (with --json,
one event per line, each naming its file, and a summary last). Names are
resolved first, each by the rules above. The exit code is 0 only if every
file was saved; otherwise get names each file that failed, and how to
resume it, and exits 1. A file already in the output folder with the same
content counts as saved and is not fetched again, so the same command run
again resumes only what is missing.`,
		Example: `  peerhub get archivo1_p1.txt
  peerhub get -o ~/Downloads report.pdf
  peerhub get 3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea
  peerhub get 3f79bb7b
  peerhub get --wait 10m report.pdf
  peerhub get --watch -o ~/Music .ogg
  peerhub get report.pdf notes.txt 3f79bb7b
  peerhub get --folder p1:music/rock -o ~/Music --parallel 4`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case watch && (len(args) != 1 || len(folders) != 0):
				return usageError{errors.New("--watch takes one QUERY (and no --folder)")}
			case watch:
				return runGetWatch(cmd.Context(), g, &o, args[0], outDir, stall)
			case len(args) == 0 && len(folders) == 0:
				return usageError{errors.New("give a NAME (or several), or --folder PEER:PATH")}
			case parallel < 1 || parallel > maxParallel:
				return usageError{fmt.Errorf("--parallel %d: want 1 to %d", parallel, maxParallel)}
			case len(args) == 1 && len(folders) == 0:
				return runGet(cmd.Context(), g, &o, args[0], outDir, force, wait, stall)
			}
			return runGetMany(cmd.Context(), g, &o, args, folders, getRunOptions{
				OutDir: outDir, Parallel: parallel, Force: force, Wait: wait, Stall: stall, JSON: o.json,
			})
		},
	}
	o.bind(cmd)
	cmd.Flags().Lookup("json").Usage = "print progress events and the result as JSON, one object per line"
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", ".", "folder to save the file in (created if missing)")
	cmd.Flags().BoolVar(&force, "force", false, "replace a file of the same name in the output folder")
	cmd.Flags().DurationVar(&wait, "wait", 0, "when no source is online (or all are gone), wait this long for one, asking the directory again every second")
	cmd.Flags().StringArrayVar(&folders, "folder", nil, "get a peer's folder with its subfolders, as PEER:PATH (PEER: for all it shares); may be repeated")
	cmd.Flags().IntVar(&parallel, "parallel", defaultParallel, fmt.Sprintf("with several files, how many to download at once (1 to %d)", maxParallel))
	cmd.Flags().DurationVar(&stall, "stall-timeout", downloader.DefaultStallTimeout, "drop a source that sends nothing for this long")
	cmd.Flags().BoolVar(&watch, "watch", false, "a wishlist: keep running and download every file that matches, now or later, skipping those already complete in the output folder")
	cmd.MarkFlagsMutuallyExclusive("watch", "wait")
	cmd.MarkFlagsMutuallyExclusive("watch", "force")
	envHelp(cmd.Flags())
	return cmd
}

// runGet is the get command.
func runGet(ctx context.Context, g *globals, o *clientOptions, query, outDir string, force bool, wait, stall time.Duration) error {
	s, err := o.login(ctx, g)
	if err != nil {
		return err
	}
	defer s.Logout(context.WithoutCancel(ctx))
	// A long download outlives the session unless it heartbeats. It ends
	// before the command returns: nothing may log afterwards.
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var heartbeats sync.WaitGroup
	heartbeats.Go(func() { s.KeepAlive(hbCtx) })
	defer heartbeats.Wait()
	defer stopHeartbeat()

	w := newWaiter(g, o.json, query, wait)
	var res *downloader.Result
	var dest string
	for {
		cand, err := downloader.Resolve(ctx, s.Reads(), query)
		if amb, ok := errors.AsType[*downloader.AmbiguousError](err); ok && !o.json && isTerminal(g.streams.In) {
			cand, err = choose(g, amb)
		}
		if errors.Is(err, downloader.ErrNotFound) && w.again(ctx, "no online peer shares it") {
			continue
		}
		if err != nil {
			return w.fail(err)
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return fmt.Errorf("output folder: %w", err)
		}
		dest = destination(outDir, cand)
		rep := newReporter(g, o.json, filepath.Base(dest))
		routes := relayRoutes(s)
		// A download token per source, renewed as it runs: the session
		// token never goes to a peer.
		tokens := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)
		asked := askTokensAhead(ctx, tokens, cand)
		res, err = downloader.Get(ctx, cand, downloader.Options{
			Routes:           routes,
			Dest:             dest,
			Force:            force,
			Tokens:           tokens,
			Progress:         rep.progress,
			ProgressInterval: barInterval,
			StallTimeout:     stall,
			OpenFolder:       g.streams.OpenFolder,
		})
		asked.Wait()
		rep.close(err == nil)
		routes.Close()
		if errors.Is(err, downloader.ErrNoSources) && w.again(ctx, "every source is gone or hung") {
			continue
		}
		if err != nil {
			return getFailed(w.fail(err), dest, res)
		}
		break
	}
	if o.json {
		return printJSON(g.streams.Out, getDone{
			Event: "done", Name: filepath.Base(dest), Path: dest, SHA256: res.SHA256, Size: res.Size,
			Fetched: res.FetchedBytes, Resumed: res.ResumedBytes, Seconds: res.Elapsed.Seconds(),
			Sources: sourceCounts(res),
		})
	}
	fmt.Fprintf(g.streams.Out, "Saved %s (%s, sha256 %s)\n", dest, humansize.Format(res.Size), res.SHA256)
	return nil
}

// askTokensAhead asks the directory for the download token of each of c's
// sources at once, on their own goroutines, so that the calls run while
// the download prepares its output file (reserving it: 10–17 ms for
// 100 MiB on tmpfs, which zeroes it) rather than after, when the first
// call to each source needs its token; that call then waits for the one
// under way (session.Tokens). A failure is left to the downloader, which
// asks again and reports it. Wait on the result before the session ends.
func askTokensAhead(ctx context.Context, tokens *session.Tokens, c downloader.Candidate) *sync.WaitGroup {
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, src := range c.Sources {
		if src.Peer == "" || seen[src.Peer] {
			continue
		}
		seen[src.Peer] = true
		wg.Go(func() { tokens.Token(ctx, src.Peer) })
	}
	return &wg
}

// getFailed is the error of a download that failed: what to do about it.
// Every failure that kept the partial file is resumable, and says how.
func getFailed(err error, dest string, res *downloader.Result) error {
	switch {
	case errors.Is(err, downloader.ErrExists):
		return fmt.Errorf("%s exists; give --force to replace it, or -o another folder", dest)
	case keptPartial(err, res) != "":
		todo := "run the same command again to resume"
		if errors.Is(err, downloader.ErrDiskFull) {
			todo = "free some disk space there, then run the same command again to resume"
		}
		return fmt.Errorf("%w\n%s of %s kept in %s: %s",
			err, humansize.Format(res.FetchedBytes+res.ResumedBytes), humansize.Format(res.Size), res.Path, todo)
	}
	return err
}

// choose lists the candidates of an ambiguous name and asks which one to
// get, on the terminal.
func choose(g *globals, amb *downloader.AmbiguousError) (downloader.Candidate, error) {
	w := g.streams.Err
	fmt.Fprintf(w, "%q matches %d different files:\n", amb.Query, len(amb.Candidates))
	for i, c := range amb.Candidates {
		fmt.Fprintf(w, "  %d) %s  %s  sha256 %s  (%d %s)\n", i+1, c.Name, humansize.Format(c.Size), c.SHA256[:16], len(c.Sources), plural(len(c.Sources), "source", "sources"))
	}
	in := bufio.NewReader(g.streams.In)
	for {
		fmt.Fprintf(w, "Which one? [1-%d, empty to cancel]: ", len(amb.Candidates))
		line, err := in.ReadString('\n')
		line = strings.TrimSpace(line)
		if line == "" {
			if err != nil && !errors.Is(err, io.EOF) {
				return downloader.Candidate{}, fmt.Errorf("read answer: %w", err)
			}
			return downloader.Candidate{}, errors.New("cancelled: no file chosen")
		}
		if k, perr := strconv.Atoi(line); perr == nil && k >= 1 && k <= len(amb.Candidates) {
			return amb.Candidates[k-1], nil
		}
		fmt.Fprintf(w, "%q is not a number from 1 to %d.\n", line, len(amb.Candidates))
		if err != nil {
			return downloader.Candidate{}, errors.New("cancelled: no file chosen")
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// reporter shows a download's progress: a progress bar on a terminal, JSON
// events with --json, or a plain line every few seconds otherwise. Its
// progress method is downloader.Options.Progress.
type reporter struct {
	name string
	w    io.Writer
	mode int // one of the report* constants
	bar  *progressbar.ProgressBar
	last time.Time
}

const (
	reportPlain = iota
	reportBar
	reportJSON
)

func newReporter(g *globals, asJSON bool, name string) *reporter {
	r := &reporter{name: name, w: g.streams.Err}
	switch {
	case asJSON:
		r.mode, r.w = reportJSON, g.streams.Out
	case isTerminal(g.streams.Err):
		r.mode = reportBar
	}
	return r
}

func (r *reporter) progress(p downloader.Progress) {
	switch r.mode {
	case reportBar:
		r.showBar(p)
	case reportJSON:
		if p.Final || time.Since(r.last) >= jsonInterval {
			r.last = time.Now()
			printJSON(r.w, getProgress{
				Event: "progress", Name: r.name, Done: p.Done, Total: p.Total, Resumed: p.Resumed,
				Rate: p.Rate, PiecesDone: p.PiecesDone, Pieces: p.Pieces, Sources: p.Sources,
				Seconds: p.Elapsed.Seconds(),
			})
		}
	default:
		if r.last.IsZero() {
			r.last = time.Now() // the first line after plainInterval
		}
		if p.Final || time.Since(r.last) >= plainInterval {
			r.last = time.Now()
			fmt.Fprintf(r.w, "%s: %s of %s (%d%%), %s/s, %d %s\n", r.name, humansize.Format(p.Done), humansize.Format(p.Total),
				percent(p.Done, p.Total), humansize.Format(int64(p.Rate)), p.Sources, plural(p.Sources, "source", "sources"))
		}
	}
}

// showBar draws the terminal progress bar. It counts the bytes this run
// fetches, not those resumed from disk, so that its rate and ETA are right.
func (r *reporter) showBar(p downloader.Progress) {
	todo := p.Total - p.Resumed
	if r.bar == nil {
		if p.Resumed > 0 {
			fmt.Fprintf(r.w, "Resuming %s: %s of %s already here.\n", r.name, humansize.Format(p.Resumed), humansize.Format(p.Total))
		}
		r.bar = progressbar.NewOptions64(max(todo, 1),
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription(r.name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(barInterval),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.w) }),
		)
	}
	r.bar.Describe(fmt.Sprintf("%s [%d %s]", r.name, p.Sources, plural(p.Sources, "source", "sources")))
	r.bar.Set64(p.Done - p.Resumed)
}

// close ends the output of a download that succeeded (ok) or not.
func (r *reporter) close(ok bool) {
	if r.bar == nil {
		return
	}
	if ok {
		r.bar.Finish()
	} else {
		r.bar.Exit()
		fmt.Fprintln(r.w)
	}
}

func percent(n, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return n * 100 / total
}
