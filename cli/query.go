package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

func init() {
	commands = append(commands, newSearchCommand, newPeersCommand, newFilesCommand, newHealthCommand)
}

func newSearchCommand(g *globals) *cobra.Command {
	var o clientOptions
	var l listing
	var watch bool
	cmd := &cobra.Command{
		Use:   "search QUERY|SHA256",
		Short: "Find files shared by online peers",
		Long: `Search finds files whose name contains QUERY (at least 3 characters, any
case), or whose content's SHA-256 is SHA256: all 64 hex digits, or the
first 8 or more as tables show them (any case; a name is searched if no
hash starts so). Results are grouped by content: one line per distinct
file, with how many online peers have it and the accounts those peers
belong to. When more results exist than --limit, it says how many (on
standard error).

With --watch, search keeps running (until Ctrl-C): after the table it
prints a line each time a file starts or stops matching, or its sources
change ("added", "removed", "changed"), as peers publish, come and go.
With --json every event is one object per line (docs/CLI.md).`,
		Example: `  peerhub search archivo
  peerhub search --json report.pdf
  peerhub search 3f79bb7b435b
  peerhub search --watch .ogg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withSession(cmd.Context(), g, func(s *session.Session) error {
				if watch {
					return runSearchWatch(cmd.Context(), g, s, args[0], o.json)
				}
				results, c, err := searchAll(cmd.Context(), s.Reads(), args[0], l)
				if err != nil {
					return err
				}
				defer c.note(cmd.ErrOrStderr())
				if o.json {
					return printJSON(cmd.OutOrStdout(), &directoryv1.SearchResponse{Results: results})
				}
				if len(results) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "No online peer shares a file matching %q.\n", args[0])
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tACCOUNTS\tSOURCES")
				for _, r := range results {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", strings.Join(r.GetNames(), ", "), humansize.Format(r.GetSize()), r.GetSha256()[:12], sourceAccounts(r.GetSources()), len(r.GetSources()))
				}
				return tw.Flush()
			})
		},
	}
	o.bind(cmd)
	l.bind(cmd, 200, "results")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep running and print each change to the matches as it happens (a live search)")
	envHelp(cmd.Flags())
	return cmd
}

// maxListedAccounts is how many accounts a search line names before "…".
const maxListedAccounts = 3

// sourceAccounts lists the distinct accounts of a result's sources, sorted,
// the first few only.
func sourceAccounts(sources []*directoryv1.Source) string {
	var accounts []string
	for _, s := range sources {
		accounts = append(accounts, s.GetUsername())
	}
	slices.Sort(accounts)
	accounts = slices.Compact(accounts)
	if len(accounts) > maxListedAccounts {
		accounts = append(accounts[:maxListedAccounts], "…")
	}
	return strings.Join(accounts, ", ")
}

// searchAll collects the results of a search that l asks for, following
// pages, and says what it left out: by hash, hash prefix or name, as
// downloader.SearchRequests says (the first of its requests with results).
func searchAll(ctx context.Context, c downloader.Searcher, query string, l listing) ([]*directoryv1.SearchResult, cut, error) {
	for _, req := range downloader.SearchRequests(query, 0) {
		out, cut, err := searchPages(ctx, c, req, l)
		if err != nil || len(out) > 0 {
			return out, cut, err
		}
	}
	return nil, cut{}, nil
}

// searchPages collects the results of req that l asks for, following pages.
func searchPages(ctx context.Context, c downloader.Searcher, req *directoryv1.SearchRequest, l listing) ([]*directoryv1.SearchResult, cut, error) {
	return collect(l, func(token string, size int32) ([]*directoryv1.SearchResult, string, error) {
		req.PageToken, req.PageSize = token, size
		res, err := c.Search(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, "", err
		}
		return res.Msg.GetResults(), res.Msg.GetNextPageToken(), nil
	})
}

func newPeersCommand(g *globals) *cobra.Command {
	var o clientOptions
	var l listing
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the online peers and the account each belongs to",
		Long: `Peers lists the online peers: each name with the account that owns it (the
account that first logged a peer in under that name; no other account can
use it), the address it serves files at, how many files it shares, how
downloaders reach it (REACH: direct, relayed through the directory, or
unreachable) and its TLS key (KEY: "pinned" when the directory vouches for
its key, "changed 3m ago" when its last login brought another key than the
one bound to its name before, "-" for a cleartext peer).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withSession(cmd.Context(), g, func(s *session.Session) error {
				peers, c, err := collect(l, func(token string, size int32) ([]*directoryv1.PeerInfo, string, error) {
					res, err := s.Reads().ListPeers(cmd.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{PageToken: token, PageSize: size}))
					if err != nil {
						return nil, "", err
					}
					return res.Msg.GetPeers(), res.Msg.GetNextPageToken(), nil
				})
				if err != nil {
					return err
				}
				defer c.note(cmd.ErrOrStderr())
				if o.json {
					return printJSON(cmd.OutOrStdout(), &directoryv1.ListPeersResponse{Peers: peers})
				}
				if len(peers) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No peer is online.")
					return nil
				}
				return printPeers(cmd.OutOrStdout(), peers)
			})
		},
	}
	o.bind(cmd)
	l.bind(cmd, 1000, "peers")
	envHelp(cmd.Flags())
	return cmd
}

func newFilesCommand(g *globals) *cobra.Command {
	var o clientOptions
	var peer string
	var l listing
	cmd := &cobra.Command{
		Use:   "files",
		Short: "List every file that online peers share",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withSession(cmd.Context(), g, func(s *session.Session) error {
				files, c, err := collect(l, func(token string, size int32) ([]*directoryv1.SharedFile, string, error) {
					res, err := s.Reads().ListFiles(cmd.Context(), connect.NewRequest(&directoryv1.ListFilesRequest{PageToken: token, PageSize: size, Peer: peer}))
					if err != nil {
						return nil, "", err
					}
					return res.Msg.GetFiles(), res.Msg.GetNextPageToken(), nil
				})
				if err != nil {
					return err
				}
				defer c.note(cmd.ErrOrStderr())
				if o.json {
					return printJSON(cmd.OutOrStdout(), &directoryv1.ListFilesResponse{Files: files})
				}
				if len(files) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No file is shared.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PEER\tNAME\tSIZE\tSHA256")
				for _, f := range files {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.GetPeer(), f.GetFile().GetName(), humansize.Format(f.GetFile().GetSize()), f.GetFile().GetSha256()[:12])
				}
				return tw.Flush()
			})
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&peer, "peer", "", "list only this peer's files")
	l.bind(cmd, 1000, "files")
	envHelp(cmd.Flags())
	return cmd
}

func newHealthCommand(g *globals) *cobra.Command {
	var timeout time.Duration
	var service, cacert string
	cmd := &cobra.Command{
		Use:   "health URL",
		Short: "Ask a directory or peer whether it is serving (exit 0 if so)",
		Long: `Health asks the gRPC health service of a directory or a peer. It exits 0
when the server answers SERVING and 1 otherwise, so container health checks
can use it (the image has no shell). An https:// server is trusted by the
pin after "#" in the URL, by --cacert (its tls-cert.pem, in the state
folder), or by a certificate authority.`,
		Example: `  peerhub health https://127.0.0.1:8000 --cacert peerhub-data/tls-cert.pem
  peerhub health 'https://127.0.0.1:8000#sha256//…'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			base, hc, err := healthClient(args[0], cacert)
			if err != nil {
				return usageError{err}
			}
			c := grpchealth.NewClient(hc, base)
			res, err := c.Check(ctx, &grpchealth.CheckRequest{Service: service})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.ToUpper(strings.ReplaceAll(res.Status.String(), " ", "_")))
			if res.Status != grpchealth.StatusServing {
				return fmt.Errorf("%s is %s", args[0], res.Status)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	cmd.Flags().StringVar(&service, "service", "", "service to ask about (empty: the whole server)")
	cmd.Flags().StringVar(&cacert, "cacert", "", "PEM certificate to trust for an https:// URL (the server's tls-cert.pem)")
	envHelp(cmd.Flags())
	return cmd
}

// ago formats a timestamp as time elapsed.
func ago(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	d := time.Since(ts.AsTime()).Round(time.Second)
	if d < time.Second {
		return "just now"
	}
	return d.String() + " ago"
}
