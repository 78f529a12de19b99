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
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

func init() { commands = append(commands, newMenuCommand) }

func newMenuCommand(g *globals) *cobra.Command {
	var o clientOptions
	var outDir string
	cmd := &cobra.Command{
		Use:   "menu",
		Short: "Search, download and watch transfers interactively",
		Long: `Menu is an interactive session: search the network, pick a file and its
sources, and start downloads that run in the background while the menu stays
usable; watch their progress; list the online peers. Inside the container
deployment: docker compose exec -it p1 /peerhub menu`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.json {
				// The menu is a conversation, not a result: there is no
				// JSON for it. search, peers, files, get and status
				// have --json.
				return usageError{errors.New("menu is interactive and has no --json; use search, peers, files, get or status --json")}
			}
			s, err := o.login(cmd.Context(), g)
			if err != nil {
				return err
			}
			// The session outlives a Ctrl-C: downloads still running
			// go on after it (see interrupted) and need their tokens.
			live, cancel := context.WithCancel(context.WithoutCancel(cmd.Context()))
			defer cancel()
			go s.KeepAlive(live)
			defer s.Logout(live)
			m := &menu{s: s, outDir: outDir, out: cmd.OutOrStdout(), user: o.user, dir: o.directory, downloads: live}
			m.lines = readLines(g.streams.In, live.Done())
			return m.run(cmd.Context())
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", ".", "folder downloads go to")
	cmd.Flags().Lookup("json").Hidden = true // rejected: see RunE
	// Only a --json typed on the command line is refused: PEERHUB_JSON,
	// set for the other commands, does not concern the menu.
	ignoreEnv(cmd.Flags(), "json")
	envHelp(cmd.Flags())
	return cmd
}

// menu is one interactive session.
type menu struct {
	s      *session.Session
	outDir string
	lines  <-chan string // the input, a line at a time; closed at its end
	out    io.Writer
	// downloads is the context the background downloads run in: not
	// cancelled by a Ctrl-C, only by stopAll.
	downloads context.Context
	user      string
	dir       string

	mu        sync.Mutex
	transfers []*transfer
	wg        sync.WaitGroup
}

// transfer is a background download started from the menu.
type transfer struct {
	name string

	mu       sync.Mutex
	progress downloader.Progress
	err      error
	done     bool
	path     string
	stopped  bool // by stopAll: the partial file is kept to resume
	cancel   context.CancelFunc
}

// errQuit ends the menu when its input ends.
var errQuit = errors.New("quit")

// readLines reads in a line at a time onto the returned channel, which it
// closes at the end of in, until done is closed.
func readLines(in io.Reader, done <-chan struct{}) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	return lines
}

// ask prints a prompt and reads one line; errQuit at the end of input,
// ctx's error when ctx is done first (Ctrl-C at the prompt).
func (m *menu) ask(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(m.out, prompt)
	select {
	case line, ok := <-m.lines:
		if !ok {
			fmt.Fprintln(m.out)
			return "", errQuit
		}
		return strings.TrimSpace(line), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// yes reports whether a y/N prompt's answer is yes.
func yes(answer string) bool {
	return strings.EqualFold(answer, "y") || strings.EqualFold(answer, "yes")
}

func (m *menu) run(ctx context.Context) error {
	defer m.wg.Wait()
	fmt.Fprintf(m.out, "peerhub menu: logged in as %s at %s; downloads go to %s\n", m.user, m.dir, m.outDir)
	for {
		fmt.Fprint(m.out, "\n--- PEERHUB ---\n1. Search and download\n2. Downloads\n3. Online peers\n0. Quit\n")
		choice, err := m.ask(ctx, "Choose: ")
		if ctx.Err() != nil {
			return m.interrupted(ctx)
		}
		if errors.Is(err, errQuit) {
			m.stopAll()
			return nil
		}
		switch choice {
		case "1":
			err = m.search(ctx)
		case "2":
			m.showTransfers()
		case "3":
			err = m.peers(ctx)
		case "0", "q", "quit", "exit":
			if m.confirmQuit(ctx) {
				m.stopAll()
				fmt.Fprintln(m.out, "Bye.")
				return nil
			}
		case "":
		default:
			fmt.Fprintf(m.out, "Unknown choice %q.\n", choice)
		}
		if ctx.Err() != nil {
			return m.interrupted(ctx)
		}
		if errors.Is(err, errQuit) {
			m.stopAll()
			return nil
		}
		if err != nil {
			fmt.Fprintln(m.out, "Error:", Message(err))
		}
	}
}

func (m *menu) search(ctx context.Context) error {
	q, err := m.ask(ctx, "Search for (at least 3 characters): ")
	if err != nil || q == "" {
		return err
	}
	results, c, err := searchAll(ctx, m.s.Reads(), q, listing{limit: 50})
	if err != nil {
		return err
	}
	if len(results) == 0 {
		fmt.Fprintf(m.out, "Nothing matches %q.\n", q)
		return nil
	}
	for i, r := range results {
		fmt.Fprintf(m.out, "%2d. %s  %s  %s  %s\n", i+1, strings.Join(r.GetNames(), ", "), humansize.Format(r.GetSize()), r.GetSha256()[:12], fmt.Sprintf("%d %s", len(r.GetSources()), plural(len(r.GetSources()), "source", "sources")))
	}
	c.tell(m.out, "search for something longer to narrow them down")
	pick, err := m.ask(ctx, "Download which (number, Enter to go back): ")
	if err != nil || pick == "" {
		return err
	}
	i, err := strconv.Atoi(pick)
	if err != nil || i < 1 || i > len(results) {
		fmt.Fprintf(m.out, "No result %q.\n", pick)
		return nil
	}
	r := results[i-1]
	sources := r.GetSources()
	for j, s := range sources {
		fmt.Fprintf(m.out, "%2d. %s (account %s)  %s  (as %s)\n", j+1, s.GetPeer(), s.GetUsername(), s.GetAddress(), s.GetName())
	}
	which, err := m.ask(ctx, "Download from which source (number, Enter for all at once): ")
	if err != nil {
		return err
	}
	if which != "" {
		j, err := strconv.Atoi(which)
		if err != nil || j < 1 || j > len(sources) {
			fmt.Fprintf(m.out, "No source %q.\n", which)
			return nil
		}
		sources = sources[j-1 : j]
	}
	name := filepath.Base(r.GetNames()[0])
	// As get -o does: a folder that is not there yet is made.
	if err := os.MkdirAll(m.outDir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	dest := filepath.Join(m.outDir, name)
	force := false
	if fi, err := os.Lstat(dest); err == nil {
		if fi.IsDir() {
			fmt.Fprintf(m.out, "%s is a folder; nothing downloaded.\n", dest)
			return nil
		}
		a, err := m.ask(ctx, fmt.Sprintf("%s exists. Replace it? [y/N] ", dest))
		if err != nil {
			return err
		}
		if !yes(a) {
			fmt.Fprintf(m.out, "Kept %s; nothing downloaded.\n", dest)
			return nil
		}
		force = true
	}
	m.start(r, sources, name, force)
	return nil
}

// start runs a download in the background.
// It runs in m.downloads, so that a Ctrl-C at the menu does not stop it.
func (m *menu) start(r *directoryv1.SearchResult, sources []*directoryv1.Source, name string, force bool) {
	ctx, cancel := context.WithCancel(m.downloads)
	t := &transfer{name: name, cancel: cancel}
	m.mu.Lock()
	m.transfers = append(m.transfers, t)
	m.mu.Unlock()
	srcs := make([]downloader.Source, len(sources))
	for i, s := range sources {
		srcs[i] = downloader.Source{Peer: s.GetPeer(), Address: s.GetAddress(), Name: s.GetName(),
			Relayed: s.GetReachability() == directoryv1.Reachability_REACHABILITY_RELAYED, Pin: identity.Pin(s.GetPin())}
	}
	target := downloader.Target{SHA256: r.GetSha256(), Size: r.GetSize(), PieceSize: int64(r.GetPieceSize()), PieceRoot: r.GetPieceRoot()}
	m.wg.Go(func() {
		defer cancel()
		routes := relayRoutes(m.s)
		defer routes.Close()
		res, err := downloader.Download(ctx, target, srcs, downloader.Options{
			Routes:   routes,
			Dest:     filepath.Join(m.outDir, name),
			Force:    force,
			Tokens:   m.s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD),
			Progress: func(p downloader.Progress) { t.mu.Lock(); t.progress = p; t.mu.Unlock() },
		})
		t.mu.Lock()
		t.done, t.err = true, err
		if res != nil {
			t.path = res.Path
		}
		t.mu.Unlock()
	})
	fmt.Fprintf(m.out, "Downloading %s from %d %s in the background (2 shows progress).\n", name, len(srcs), plural(len(srcs), "source", "sources"))
}

func (m *menu) showTransfers() {
	m.mu.Lock()
	ts := append([]*transfer(nil), m.transfers...)
	m.mu.Unlock()
	if len(ts) == 0 {
		fmt.Fprintln(m.out, "No downloads yet.")
		return
	}
	tw := tabwriter.NewWriter(m.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tPROGRESS\tRATE\tSOURCES\tSTATE")
	for _, t := range ts {
		t.mu.Lock()
		p := t.progress
		state := "downloading"
		switch {
		case t.done && t.err == nil:
			state = "done: " + t.path
		case t.done && t.stopped:
			state = "stopped: 'peerhub get' resumes it"
		case t.done:
			state = "failed: " + Message(t.err)
		}
		fmt.Fprintf(tw, "%s\t%d%% of %s\t%s/s\t%d\t%s\n", t.name, percent(p.Done, p.Total), humansize.Format(p.Total), humansize.Format(int64(p.Rate)), p.Sources, state)
		t.mu.Unlock()
	}
	tw.Flush()
}

func (m *menu) peers(ctx context.Context) error {
	res, err := m.s.Reads().ListPeers(ctx, connect.NewRequest(&directoryv1.ListPeersRequest{PageSize: 1000}))
	if err != nil {
		return err
	}
	if len(res.Msg.GetPeers()) == 0 {
		fmt.Fprintln(m.out, "No peer is online.")
		return nil
	}
	tw := tabwriter.NewWriter(m.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tACCOUNT\tADDRESS\tFILES\tLAST SEEN")
	for _, p := range res.Msg.GetPeers() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.GetName(), p.GetUsername(), p.GetAddress(), p.GetFileCount(), ago(p.GetLastSeen()))
	}
	return tw.Flush()
}

func (m *menu) running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.transfers {
		t.mu.Lock()
		if !t.done {
			n++
		}
		t.mu.Unlock()
	}
	return n
}

func (m *menu) confirmQuit(ctx context.Context) bool {
	n := m.running()
	if n == 0 {
		return true
	}
	a, err := m.ask(ctx, fmt.Sprintf("%d %s still running (they resume with 'peerhub get'). Quit? [y/N] ", n, plural(n, "download is", "downloads are")))
	return err != nil || yes(a)
}

// stopAll cancels running downloads; their partial files stay resumable.
func (m *menu) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.transfers {
		t.mu.Lock()
		t.stopped = !t.done
		t.mu.Unlock()
		t.cancel()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// interrupted ends the menu after a Ctrl-C (ctx is done). Downloads still
// running are not stopped by it: the menu waits for them, and a second
// Ctrl-C stops them, their partial files kept for 'peerhub get' to resume.
// The error makes Run exit with the signal's code (130 for Ctrl-C).
func (m *menu) interrupted(ctx context.Context) error {
	fmt.Fprintln(m.out)
	if n := m.running(); n > 0 {
		fmt.Fprintf(m.out, "Interrupted: waiting for %d %s to finish; Ctrl-C again stops %s (partial files are kept: 'peerhub get' resumes them).\n",
			n, plural(n, "download", "downloads"), plural(n, "it", "them"))
		done := make(chan struct{})
		go func() { m.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-SignalRepeats(ctx):
			m.stopAll()
		}
		m.showTransfers()
	}
	return fmt.Errorf("menu: %w", ctx.Err())
}
