package cli

import (
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/session"
	"github.com/peerhub/peerhub/server/directory"
)

func init() { commands = append(commands, newNameCommand) }

// newNameCommand is "peerhub name": what an account does with the peer
// names it owns.
func newNameCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "name",
		Short: "Manage the peer names your account owns",
		Long: `A peer name belongs to the account that first logged a peer in under it.
No other account can use it, even while the peer is offline, until the
owner releases it (peerhub name release), an administrator does (peerhub
directory name release), or the account is removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("name a subcommand: release")}
		},
	}
	var o clientOptions
	release := &cobra.Command{
		Use:   "release NAME",
		Short: "Give up a peer name your account owns, so that any account may claim it",
		Long: `Release gives up a peer name your account owns: the next account to log a
peer in under it owns it from then on. Stop the peer first: the directory
refuses while it is online, since it would claim the name again at its next
login.`,
		Example: `  peerhub name release old-laptop --user alice`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := directory.CheckName(args[0]); err != nil {
				return usageError{err}
			}
			return o.withSession(cmd.Context(), g, func(s *session.Session) error {
				_, err := s.Client().ReleasePeerName(cmd.Context(), connect.NewRequest(&directoryv1.ReleasePeerNameRequest{Name: args[0]}))
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "released peer name %s\n", args[0])
				return err
			})
		},
	}
	o.bind(release)
	release.Flags().Lookup("json").Hidden = true
	envHelp(release.Flags())
	cmd.AddCommand(release)
	return cmd
}
