package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peerhub/peerhub/server/directory"
)

// newDirectoryNameCommand is "peerhub directory name": the administrator's
// commands on peer names, on the directory's store (--data, --store).
func newDirectoryNameCommand(g *globals, f *directoryFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "name",
		Short: "Release peer names, as the directory's administrator",
		Long: `A peer name belongs to the account that first logged a peer in under it.
These commands act on the directory's store (--data, --store) directly, and
can run while the directory does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("name a subcommand: release")}
		},
	}
	release := &cobra.Command{
		Use:   "release NAME",
		Short: "Take a peer name from its account, so that any account may claim it",
		Long: `Release takes a peer name from the account that owns it: the next account
to log a peer in under it owns it from then on. A peer online under that
name is logged out and its files leave the index; if it keeps running it
logs in again and claims the name again, so stop it, or remove its account
(peerhub directory user remove), which releases all its names.`,
		Example: `  peerhub directory name release bob --data ./peerhub-data`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := directory.CheckName(args[0]); err != nil {
				return usageError{err}
			}
			return withDirectory(cmd.Context(), g, f, func(d *directory.Directory) error {
				owner, err := d.ForceReleasePeerName(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(g.streams.Out, "released peer name %s (it belonged to account %s)\n", args[0], owner)
				return err
			})
		},
	}
	cmd.AddCommand(release)
	return cmd
}
