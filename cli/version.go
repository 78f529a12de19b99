package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peerhub/peerhub/internal/buildinfo"
)

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Get()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "peerhub %s\ncommit %s\n%s\n", info.Version, info.Commit, info.GoVersion)
			return err
		},
	}
}
