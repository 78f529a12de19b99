package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/peer/session"
)

func init() { commands = append(commands, newStatusCommand) }

func newStatusCommand(g *globals) *cobra.Command {
	var o clientOptions
	var name string
	cmd := &cobra.Command{
		Use:   "status [PEER]",
		Short: "Show what one of your peers is doing: transfers, queue, limits, uploads received",
		Long: `Status asks a running peer what it serves now: each transfer (download
sent or upload received) with the remote account, rate and progress, how
many wait for a slot, its limits, and the last uploads it received.

Only the account that owns the peer's name may ask: the directory issues the
status token for it to that account alone. PEER is the peer's name (or
ACCOUNT/NAME, or the URL of its PeerService); without it, the name the
peer command runs under (--name, $PEERHUB_NAME).`,
		Example: `  peerhub status laptop --user alice
  PEERHUB_NAME=laptop peerhub status --user alice --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			peer := name
			if len(args) == 1 {
				peer = args[0]
			}
			if peer == "" {
				return usageError{fmt.Errorf("no peer: give PEER, --name or set %s", EnvName("name"))}
			}
			return runStatus(cmd.Context(), g, &o, peer)
		},
	}
	o.bind(cmd)
	cmd.Flags().Lookup("json").Usage = "print the status as JSON (the API's JSON mapping)"
	cmd.Flags().StringVar(&name, "name", "", "name of the peer to ask when PEER is not given (the name your peer runs under)")
	envHelp(cmd.Flags())
	return cmd
}

// runStatus is the status command.
func runStatus(ctx context.Context, g *globals, o *clientOptions, to string) error {
	return o.withSession(ctx, g, func(s *session.Session) error {
		p, err := findPeer(ctx, s.Reads(), to)
		if err != nil {
			return err
		}
		// A status token for that peer only; the directory refuses it
		// unless this account owns the name.
		raw, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_STATUS).Token(ctx, p.GetName())
		if err != nil {
			return err
		}
		var tok rpcclient.Token
		tok.Set(raw)
		peers := rpcclient.NewPeerClients(nil)
		defer peers.CloseIdleConnections()
		hc, err := peers.For(p.GetAddress(), identity.Pin(p.GetPin()))
		if err != nil {
			return err
		}
		res, err := peerv1connect.NewPeerServiceClient(hc, p.GetAddress(), rpcclient.Options(&tok)...).Status(ctx, connect.NewRequest(&peerv1.StatusRequest{}))
		if err != nil {
			return err
		}
		if o.json {
			return printJSON(g.streams.Out, res.Msg)
		}
		printStatus(g.streams.Out, p.GetName(), res.Msg)
		return nil
	})
}

// directionNames are the table's words for transfer directions.
var directionNames = map[peerv1.TransferDirection]string{
	peerv1.TransferDirection_TRANSFER_DIRECTION_DOWNLOAD: "sending",
	peerv1.TransferDirection_TRANSFER_DIRECTION_UPLOAD:   "receiving",
}

// printStatus writes a peer's status as tables.
func printStatus(w io.Writer, peer string, st *peerv1.StatusResponse) {
	l := st.GetLimits()
	fmt.Fprintf(w, "Peer %s: %d of %d transfers running, %d waiting (queue holds %d)\n",
		peer, len(st.GetTransfers()), l.GetMaxTransfers(), st.GetWaiting(), l.GetMaxQueue())
	rate := "unlimited"
	if l.GetMaxRate() > 0 {
		rate = humansize.Format(l.GetMaxRate()) + "/s"
	}
	fmt.Fprintf(w, "Limits: %s per account, %s per address, send rate %s", capText(l.GetMaxPerAccount()), capText(l.GetMaxPerAddress()), rate)
	if l.GetAcceptUploads() {
		fmt.Fprintf(w, ", uploads up to %s each, %s of %s stored\n", humansize.Format(l.GetMaxUploadSize()), humansize.Format(l.GetUploadTotal()), humansize.Format(l.GetMaxUploadTotal()))
	} else {
		fmt.Fprintln(w, ", uploads refused")
	}
	if len(st.GetTransfers()) == 0 {
		fmt.Fprintln(w, "No transfer running.")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DIRECTION\tFILE\tACCOUNT\tADDRESS\tRATE\tPROGRESS\tSTARTED")
		for _, t := range st.GetTransfers() {
			progress := humansize.Format(t.GetBytesDone()) + " of " + humansize.Format(t.GetSize())
			if t.GetSize() > 0 {
				progress += fmt.Sprintf(" (%d%%)", t.GetBytesDone()*100/t.GetSize())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/s\t%s\t%s\n", directionNames[t.GetDirection()], t.GetName(), t.GetAccount(), t.GetAddress(),
				humansize.Format(t.GetRate()), progress, ago(t.GetStarted()))
		}
		tw.Flush()
	}
	if len(st.GetUploads()) > 0 {
		fmt.Fprintln(w, "\nUploads received (newest first):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tSIZE\tACCOUNT\tRECEIVED")
		for _, u := range st.GetUploads() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.GetName(), humansize.Format(u.GetSize()), u.GetAccount(), ago(u.GetReceived()))
		}
		tw.Flush()
	}
}

// capText describes a per-caller cap; 0 is none.
func capText(n int32) string {
	if n == 0 {
		return "no cap"
	}
	return fmt.Sprintf("%d transfers", n)
}
