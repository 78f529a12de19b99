package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
	"github.com/peerhub/peerhub/server/relay"
)

func init() { commands = append(commands, newDirectoryCommand) }

// directoryFlags are the flags of "peerhub directory" and its user
// subcommands, which act on the same data folder and store.
type directoryFlags struct {
	cfg server.Config
	// relayOn, relayRate and relayTotalRate are the relay's flags, turned
	// into cfg.NoRelay and cfg.Relay by relayConfig.
	relayOn                   bool
	relayRate, relayTotalRate byteSize
}

// relayConfig sets the relay's part of f.cfg from its flags.
func (f *directoryFlags) relayConfig() server.Config {
	f.cfg.NoRelay = !f.relayOn
	f.cfg.Relay.MaxRate = int64(f.relayRate)
	f.cfg.Relay.MaxTotalRate = int64(f.relayTotalRate)
	return f.cfg
}

func newDirectoryCommand(g *globals) *cobra.Command {
	f := &directoryFlags{}
	cmd := &cobra.Command{
		Use:   "directory",
		Short: "Run the directory that knows who is online and what they share",
		Long: `Run the directory: peers log in to it, publish the list of files they share
and heartbeat to stay online; clients search it. It serves Connect, gRPC,
gRPC-Web and REST/JSON (/v1/...) on one port, plus /metrics, the gRPC
health and reflection services, and its API documents: OpenAPI at
/openapi.json and an HTML reference at /docs. Browsers of other origins may
call it only with --cors-origin.

Accounts come from "peerhub directory user add NAME" (kept in the store) and,
read-only, from an htpasswd file given with --accounts (bcrypt lines only:
htpasswd -B). Add a user before the first peer logs in. A peer name belongs
to the account that first logged a peer in under it ("peerhub directory
name release NAME" takes it back).

Failed logins slow down further logins of the account and from the address
(a growing delay, never a lockout). --data is kept private: the folder 0700,
the database (token signing keys, password hashes) 0600; the directory
refuses to start on a database or --tls-key that other users may read.

The directory prints "listening on URL" on standard error once it accepts
connections; with --listen 127.0.0.1:0 that line tells the port it picked.

With --store postgres://... several directories (replicas, e.g. behind a
load balancer) share one PostgreSQL database: accounts, token keys, sessions
and the index (docs/SCALING.md). Rather than a password in the URL (visible
in the process list), use PGPASSWORD, ~/.pgpass or $PEERHUB_STORE.`,
		Example: `  peerhub directory user add alice        # reads the password from the terminal
  peerhub directory                       # 127.0.0.1:8000, state in ./peerhub-data
  peerhub directory --listen :8000 --tls-cert cert.pem --tls-key key.pem
  PGPASSWORD=... peerhub directory --listen :8000 --store 'postgres://peerhub@db.internal/peerhub?sslmode=require'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDirectory(cmd.Context(), g, f.relayConfig())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.cfg.Listen, "listen", server.DefaultListen, "host:port to listen on (:8000 for every interface, port 0 for any free port)")
	fs.DurationVar(&f.cfg.Heartbeat, "heartbeat", directory.DefaultHeartbeatInterval, "how often peers must heartbeat; a peer is offline after 3 missed heartbeats")
	fs.StringVar(&f.cfg.TLSCert, "tls-cert", "", "an operator's PEM certificate (from a CA, say) to serve instead of the generated one kept in --data")
	fs.StringVar(&f.cfg.TLSKey, "tls-key", "", "PEM private key file of --tls-cert (mode 0600: the directory refuses a key others may read)")
	fs.BoolVar(&f.cfg.InsecurePlaintext, "insecure-plaintext", false, "serve cleartext HTTP/2 (http://) instead of TLS: tests and local demos only")
	fs.StringSliceVar(&f.cfg.TLSHosts, "tls-host", nil, "extra host name or IP address for the generated certificate (clients that check names: grpcurl -cacert, curl --cacert); repeatable")
	fs.IntVar(&f.cfg.Directory.MaxAccountSessions, "max-account-sessions", directory.DefaultMaxAccountSessions, "most live sessions (peers and clients) one account may have")
	fs.IntVar(&f.cfg.Directory.MaxAccountFiles, "max-account-files", directory.DefaultMaxAccountFiles, "most files the online peers of one account may share together")
	fs.IntVar(&f.cfg.Directory.MaxAccountWatches, "max-account-watches", directory.DefaultMaxAccountWatches, "most live searches (search --watch, get --watch) one account may have open at once at this directory")
	fs.DurationVar(&f.cfg.Directory.WatchPoll, "watch-poll", directory.DefaultWatchPoll, "how often live searches look again for changes made through other replicas, and for peers that timed out")
	fs.DurationVar(&f.cfg.StallTimeout, "stall-timeout", rpcserver.DefaultStallTimeout, "end a call whose client sends or accepts less than 256KiB for this long (-1s: never)")
	fs.BoolVar(&f.relayOn, "relay", true, "run the relay, through which downloaders reach peers they cannot reach directly (--relay=false: none)")
	fs.Var(&f.relayRate, "relay-max-rate", "cap on each peer's relayed bytes per second, e.g. 4MiB (0: no cap)")
	fs.Var(&f.relayTotalRate, "relay-max-total-rate", "cap on all relayed bytes per second together, e.g. 32MiB (0: no cap)")
	fs.IntVar(&f.cfg.Relay.MaxSessions, "relay-max-sessions", relay.DefaultMaxSessions, "relayed sessions at once; more are refused (resource_exhausted)")
	fs.DurationVar(&f.cfg.Relay.IdleTimeout, "relay-idle-timeout", relay.DefaultIdleTimeout, "cut a relayed session that moves no byte for this long")
	corsFlag(fs, &f.cfg.CORS)
	pfs := cmd.PersistentFlags()
	pfs.StringVar(&f.cfg.Data, "data", server.DefaultData, "folder of the directory's database (created 0700)")
	pfs.StringVar(&f.cfg.Store, "store", server.DefaultStore, "where state lives: sqlite (in --data, survives restarts), memory (SQLite in a temporary folder, deleted on exit), or a postgres://user@host/db URL (shared by replicas)")
	fs.BoolVar(&f.cfg.SearchInStore, "search-in-store", false, "search the store itself instead of an in-memory copy of the live files (which takes about 0.7KB of memory per indexed file)")
	pfs.StringVar(&f.cfg.Accounts, "accounts", "", "htpasswd file of extra read-only accounts (bcrypt hashes only: htpasswd -B)")
	envHelp(fs)
	envHelp(pfs)
	cmd.AddCommand(newUserCommand(g, f), newDirectoryNameCommand(g, f), newDirectoryPinCommand(g, f))
	return cmd
}

// runDirectory serves until ctx is done (Ctrl-C or SIGTERM).
func runDirectory(ctx context.Context, g *globals, cfg server.Config) error {
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	srv, err := server.New(ctx, cfg, g.logger)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := srv.Listen(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.streams.Err, "peerhub directory listening on %s\n", srv.PinnedURL(ln))
	if f := srv.CertFile(); f != "" {
		fmt.Fprintf(g.streams.Err, "peerhub directory TLS key pin %s, self-signed certificate %s\n", srv.Pin(), f)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	return srv.Close()
}

func newUserCommand(g *globals, f *directoryFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add, list or remove the directory's accounts",
		Long: `Manage the accounts kept in the directory's store (--data, --store). They
can be changed while the directory runs. Accounts of the --accounts file
are listed but read-only: edit that file instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("name a subcommand: add, list or remove")}
		},
	}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add an account; the password is read from standard input",
		Long: `Add an account. The password is never a command-line argument (other users
could read it from the process list): on a terminal it is asked twice
without echo; otherwise the first line of standard input is the password.`,
		Example: `  peerhub directory user add alice
  printf '%s\n' "$PASSWORD" | peerhub directory user add alice`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := directory.CheckName(args[0]); err != nil {
				return usageError{err}
			}
			password, err := readNewPassword(g.streams)
			if err != nil {
				return err
			}
			return withDirectory(cmd.Context(), g, f, func(d *directory.Directory) error {
				if err := d.AddUser(cmd.Context(), args[0], password); err != nil {
					return err
				}
				_, err := fmt.Fprintf(g.streams.Out, "added user %s\n", args[0])
				return err
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDirectory(cmd.Context(), g, f, func(d *directory.Directory) error {
				users, err := d.ListUsers(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(g.streams.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSOURCE\tCREATED")
				for _, u := range users {
					source, created := "store", u.Created.UTC().Format("2006-01-02 15:04:05Z")
					if u.ReadOnly {
						source, created = "accounts file (read-only)", "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, source, created)
				}
				return tw.Flush()
			})
		},
	}
	remove := &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove an account; its sessions end and its files leave the index",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDirectory(cmd.Context(), g, f, func(d *directory.Directory) error {
				if err := d.RemoveUser(cmd.Context(), args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(g.streams.Out, "removed user %s\n", args[0])
				return err
			})
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// withDirectory opens the configured store, runs fn on a directory over it,
// and closes the store.
func withDirectory(ctx context.Context, g *globals, f *directoryFlags, fn func(*directory.Directory) error) error {
	cfg := f.cfg
	if cfg.Store == server.StoreMemory {
		return usageError{errors.New("--store memory forgets accounts on exit; manage users of a persistent store (--store sqlite with --data, or a postgres:// URL)")}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	srv, err := server.New(ctx, cfg, g.logger)
	if err != nil {
		return err
	}
	err = fn(srv.Directory())
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	return err
}

// readNewPassword reads a new password: twice without echo from a
// terminal, else the first line of standard input.
func readNewPassword(s Streams) (string, error) {
	if f, ok := s.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(s.Err, "New password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.Err)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(s.Err, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.Err)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords differ; nothing was changed")
		}
		if len(p1) == 0 {
			return "", errors.New("empty password; nothing was changed")
		}
		return string(p1), nil
	}
	if s.In == nil {
		return "", errors.New("no password: pipe it on standard input, e.g. printf '%s\\n' \"$PASSWORD\" | peerhub directory user add NAME")
	}
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input: pipe it as the first line, e.g. printf '%s\\n' \"$PASSWORD\" | peerhub directory user add NAME")
	}
	return line, nil
}
