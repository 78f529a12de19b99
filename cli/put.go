package cli

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/humansize"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/peer/downloader"
)

func init() { commands = append(commands, newPutCommand) }

func newPutCommand(g *globals) *cobra.Command {
	var o clientOptions
	var to, name string
	cmd := &cobra.Command{
		Use:   "put FILE --to PEER",
		Short: "Upload a file into a peer's shared folder",
		Long: `Put sends a local file to a peer that accepts uploads (peerhub peer
--accept-uploads), which stores it in its shared folder and shares it from
then on. PEER is the name of an online peer (see peerhub peers), or
ACCOUNT/NAME, or the URL of its PeerService.

A peer name belongs to the account that first logged a peer in under it:
the directory refuses it to every other account, even while its peer is
offline, so --to NAME reaches only that account's peer, and put says which
account that is. --to ACCOUNT/NAME also refuses to send unless the name
still belongs to ACCOUNT (a name its owner or an administrator released may
have been taken by another account since).

The peer keeps the file only once all of it arrived and its SHA-256 matches;
a refused or interrupted upload leaves nothing behind. An existing name is
never replaced.`,
		Example: `  peerhub put report.pdf --to alice
  peerhub put report.pdf --to bob/laptop     # only if bob's account owns "laptop"
  peerhub put ./notes.txt --to http://10.0.0.5:8001 --as docs/notes.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{fmt.Errorf("no peer: give --to PEER or set %s", EnvName("to"))}
			}
			return runPut(cmd.Context(), g, &o, args[0], to, name)
		},
	}
	o.bind(cmd)
	cmd.Flags().Lookup("json").Usage = "print the stored file as JSON"
	cmd.Flags().StringVar(&to, "to", "", "peer to upload to: an online peer's name, ACCOUNT/NAME to require its account too, or its URL")
	cmd.Flags().StringVar(&name, "as", "", "name to store the file under at the peer (default: the file's base name)")
	envHelp(cmd.Flags())
	return cmd
}

// runPut is the put command.
func runPut(ctx context.Context, g *globals, o *clientOptions, file, to, name string) error {
	s, err := o.login(ctx, g)
	if err != nil {
		return err
	}
	defer s.Logout(context.WithoutCancel(ctx))
	p, err := findPeer(ctx, s.Reads(), to)
	if err != nil {
		return err
	}
	// An upload token for that peer only: the session token never goes to
	// a peer.
	raw, err := s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD).Token(ctx, p.GetName())
	if err != nil {
		return err
	}
	var tok rpcclient.Token
	tok.Set(raw)
	res, err := downloader.Upload(ctx, p.GetAddress(), file, downloader.UploadOptions{Name: name, Token: &tok, Pin: identity.Pin(p.GetPin())})
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(g.streams.Out, res)
	}
	at := fmt.Sprintf("%s (account %s)", p.GetName(), p.GetUsername())
	fmt.Fprintf(g.streams.Out, "Stored %s at %s (%s, sha256 %s)\n", res.GetName(), at, humansize.Format(res.GetSize()), res.GetSha256())
	return nil
}

// findPeer finds the online peer that to names: NAME; ACCOUNT/NAME, which
// must then belong to ACCOUNT; or the URL of its PeerService.
func findPeer(ctx context.Context, c directoryv1connect.DirectoryServiceClient, to string) (*directoryv1.PeerInfo, error) {
	byURL := strings.HasPrefix(to, "http://") || strings.HasPrefix(to, "https://")
	account, name, pinned := "", to, false
	if !byURL {
		if a, n, ok := strings.Cut(to, "/"); ok {
			account, name, pinned = a, n, true
		}
	}
	req := &directoryv1.ListPeersRequest{PageSize: listPageSize}
	for {
		res, err := c.ListPeers(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		for _, p := range res.Msg.GetPeers() {
			if byURL {
				if strings.TrimSuffix(p.GetAddress(), "/") == strings.TrimSuffix(to, "/") {
					return p, nil
				}
				continue
			}
			if p.GetName() != name {
				continue
			}
			if pinned && p.GetUsername() != account {
				return nil, fmt.Errorf("peer %q belongs to account %q, not %q; nothing was sent", name, p.GetUsername(), account)
			}
			return p, nil
		}
		if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if byURL {
		return nil, fmt.Errorf("no online peer serves at %s (see peerhub peers): an upload needs a token the directory issues for a peer it knows", to)
	}
	return nil, fmt.Errorf("no online peer is called %q (see peerhub peers), and it is not an http:// or https:// URL", name)
}
