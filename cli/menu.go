package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
			s, err := o.login(cmd.Context(), g)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go s.KeepAlive(ctx)
			defer s.Logout(context.WithoutCancel(ctx))
			m := &menu{s: s, outDir: outDir, in: bufio.NewScanner(g.streams.In), out: cmd.OutOrStdout(), user: o.user, dir: o.directory}
			return m.run(ctx)
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", ".", "folder downloads go to")
	envHelp(cmd.Flags())
	return cmd
}

// menu is one interactive session.
type menu struct {
	s      *session.Session
	outDir string
	in     *bufio.Scanner
	out    io.Writer
	user   string
	dir    string

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
	cancel   context.CancelFunc
}

// errQuit ends the menu when its input ends.
var errQuit = errors.New("quit")

// ask prints a prompt and reads one line; errQuit at the end of input.
func (m *menu) ask(prompt string) (string, error) {
	fmt.Fprint(m.out, prompt)
	if !m.in.Scan() {
		fmt.Fprintln(m.out)
		return "", errQuit
	}
	return strings.TrimSpace(m.in.Text()), nil
}

func (m *menu) run(ctx context.Context) error {
	defer m.wg.Wait()
	fmt.Fprintf(m.out, "peerhub menu: logged in as %s at %s; downloads go to %s\n", m.user, m.dir, m.outDir)
	for {
		fmt.Fprint(m.out, "\n--- PEERHUB ---\n1. Search and download\n2. Downloads\n3. Online peers\n0. Quit\n")
		choice, err := m.ask("Choose: ")
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
			if m.confirmQuit() {
				m.stopAll()
				fmt.Fprintln(m.out, "Bye.")
				return nil
			}
		case "":
		default:
			fmt.Fprintf(m.out, "Unknown choice %q.\n", choice)
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
	q, err := m.ask("Search for (at least 3 characters): ")
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
	pick, err := m.ask("Download which (number, Enter to go back): ")
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
	which, err := m.ask("Download from which source (number, Enter for all at once): ")
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
	m.start(ctx, r, sources)
	return nil
}

// start runs a download in the background.
func (m *menu) start(ctx context.Context, r *directoryv1.SearchResult, sources []*directoryv1.Source) {
	name := filepath.Base(r.GetNames()[0])
	ctx, cancel := context.WithCancel(ctx)
	t := &transfer{name: name, cancel: cancel}
	m.mu.Lock()
	m.transfers = append(m.transfers, t)
	m.mu.Unlock()
	srcs := make([]downloader.Source, len(sources))
	for i, s := range sources {
		srcs[i] = downloader.Source{Peer: s.GetPeer(), Address: s.GetAddress(), Name: s.GetName()}
	}
	target := downloader.Target{SHA256: r.GetSha256(), Size: r.GetSize(), PieceSize: int64(r.GetPieceSize()), PieceRoot: r.GetPieceRoot()}
	m.wg.Go(func() {
		defer cancel()
		res, err := downloader.Download(ctx, target, srcs, downloader.Options{
			Dest:     filepath.Join(m.outDir, name),
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

func (m *menu) confirmQuit() bool {
	n := m.running()
	if n == 0 {
		return true
	}
	a, err := m.ask(fmt.Sprintf("%d %s still running (they resume with 'peerhub get'). Quit? [y/N] ", n, plural(n, "download is", "downloads are")))
	return err != nil || strings.EqualFold(a, "y") || strings.EqualFold(a, "yes")
}

// stopAll cancels running downloads; their partial files stay resumable.
func (m *menu) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.transfers {
		t.cancel()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}
