package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
)

// ExitInterrupted is the exit code of a command stopped by Ctrl-C
// (SIGINT): 128 plus the signal's number, the shell convention. A command
// stopped by another signal that SignalContext watches exits with 128 plus
// that signal's number (143 for SIGTERM).
const ExitInterrupted = 128 + int(syscall.SIGINT)

// usageError marks errors in how the command was called: its flags,
// arguments or their environment variables. Only these exit with
// ExitUsage and point at --help; the errors of a command that ran (a
// server's refusal, say) never do, whatever their text.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// markUsageErrors makes every argument error of the command tree under
// root a usageError: cobra returns its Args validators' errors ("accepts 1
// arg(s), received 0") as plain errors, so each validator is wrapped where
// cobra calls it. Flag errors go through the root's FlagErrorFunc.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// cobra adds these lazily, at Execute: added now, they are walked too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	// Without Args, cobra checks the root's arguments itself while
	// finding the subcommand, and returns "unknown command" before any
	// hook can mark it. With Args set (and a RunE, so that cobra calls
	// it), the check is ours.
	root.Args = unknownCommand
	if root.SuggestionsMinimumDistance <= 0 {
		root.SuggestionsMinimumDistance = 2 // cobra's own default
	}
	if root.RunE == nil && root.Run == nil {
		root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && c.Args != nil {
			validate := c.Args
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := validate(cmd, args); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownCommand is the root's Args: it takes no arguments of its own, so
// any argument that is not a subcommand is a mistake.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// Interrupted is the cause of a SignalContext's cancellation: the signal
// that arrived.
type Interrupted struct {
	// Signal is the signal received.
	Signal os.Signal
}

// Error says which signal arrived.
func (i Interrupted) Error() string { return i.Signal.String() + " signal received" }

// SignalContext returns a copy of parent that is cancelled, with an
// Interrupted cause, when one of signals arrives, so that Run can tell an
// interrupted command from a failed one and exit with the signal's code.
// Like signal.NotifyContext, it keeps receiving the signals until stop is
// called; those after the first are delivered on SignalRepeats(ctx), for a
// command (the menu) that lets a second Ctrl-C do more than the first.
func SignalContext(parent context.Context, signals ...os.Signal) (ctx context.Context, stop context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	repeats := make(chan os.Signal, 1)
	stopped := make(chan struct{})
	signal.Notify(ch, signals...)
	go func() {
		select {
		case s := <-ch:
			cancel(Interrupted{Signal: s})
		case <-cctx.Done():
		}
		for {
			select {
			case s := <-ch:
				select {
				case repeats <- s:
				default: // one unread repeat is enough to act on
				}
			case <-stopped:
				return
			}
		}
	}()
	var once sync.Once
	return context.WithValue(cctx, repeatsKey{}, (<-chan os.Signal)(repeats)), func() {
		once.Do(func() {
			signal.Stop(ch)
			close(stopped)
			cancel(nil)
		})
	}
}

// repeatsKey is the context key of SignalContext's repeated signals.
type repeatsKey struct{}

// SignalRepeats returns the channel on which the signals that arrive after
// the one that cancelled ctx (a SignalContext, or a context derived from
// one) are delivered; for any other context it returns nil, which never
// delivers.
func SignalRepeats(ctx context.Context) <-chan os.Signal {
	ch, _ := ctx.Value(repeatsKey{}).(<-chan os.Signal)
	return ch
}

// exitCode classifies a command's error: interrupted (ctx was cancelled,
// by a signal or by the caller), a usage error, or an error of the command.
func exitCode(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		var in Interrupted
		if errors.As(context.Cause(ctx), &in) {
			if s, ok := in.Signal.(syscall.Signal); ok {
				return 128 + int(s)
			}
		}
		return ExitInterrupted
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return ExitUsage
	}
	return ExitError
}
