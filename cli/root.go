// Package cli owns peerhub's command tree: it parses flags and PEERHUB_*
// environment variables into each role's typed Config, starts the directory
// or the peer, runs the client commands, and turns errors into messages a
// person can act on and into exit codes.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// Streams are the standard streams a command reads and writes; tests pass
// buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// LookupEnv reads the environment; os.LookupEnv if nil. Tests pass a
	// map so that commands can run in parallel in one process.
	LookupEnv func(key string) (string, bool)
	// OpenFolder opens the folder get writes to; the operating system's
	// (outfs.Open) if nil. Tests pass one that fills the disk at a chosen
	// write (outfs.Faulty).
	OpenFolder func(dir string) (outfs.Folder, error)
}

// env returns the value of an environment variable.
func (s Streams) env(key string) (string, bool) {
	if s.LookupEnv == nil {
		return os.LookupEnv(key)
	}
	return s.LookupEnv(key)
}

// Exit codes.
const (
	ExitOK    = 0 // success
	ExitError = 1 // the command ran and failed
	ExitUsage = 2 // bad flags or arguments
	// ExitInterrupted (130) is in exitcode.go.
)

// globals are the flags every command has.
type globals struct {
	logLevel  string
	logFormat string
	streams   Streams
	logger    *slog.Logger
}

// NewRootCommand returns the peerhub command tree writing to streams.
func NewRootCommand(streams Streams) *cobra.Command {
	g := &globals{streams: streams}
	root := &cobra.Command{
		Use:   "peerhub",
		Short: "A peer-to-peer file-sharing network with a directory",
		Long: `peerhub shares files between peers. A directory knows who is online and
what each peer shares; peers serve files to each other directly.

Run a network:   peerhub directory   then   peerhub peer --share DIR
Use it:          peerhub search QUERY, peerhub get NAME, peerhub peers
Try it locally:  peerhub demo

Every flag can also be set with an environment variable: --some-flag is
PEERHUB_SOME_FLAG.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, streams.env); err != nil {
				return usageError{err}
			}
			logger, err := newLogger(g.logLevel, g.logFormat, streams.Err)
			if err != nil {
				return usageError{err}
			}
			g.logger = logger
			return nil
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text (for a terminal) or json (for a log collector)")
	root.AddCommand(newVersionCommand(g))
	addVersionFlag(root)
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	markUsageErrors(root)
	addNameCompletions(root, g)
	return root
}

// commands are the constructors of the role and client commands; each file
// that defines one registers it in an init function, so the root does not
// need editing when a command is added.
var commands []func(*globals) *cobra.Command

// Run executes the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, streams Streams) int {
	root := NewRootCommand(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(ctx, err)
	msg := Message(err)
	if code != ExitError && code != ExitUsage {
		msg = strings.ReplaceAll(msg, context.Canceled.Error(), "interrupted")
	}
	fmt.Fprintln(streams.Err, "peerhub:", msg)
	if code == ExitUsage {
		path := "peerhub"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(streams.Err, "Run '%s --help' for usage.\n", path)
	}
	return code
}

// newLogger builds the slog logger for --log-level and --log-format.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// isTerminal reports whether f is an interactive terminal: a file whose
// descriptor term.IsTerminal accepts. A character device that is no
// terminal (/dev/null, under cron or systemd) is not one.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
