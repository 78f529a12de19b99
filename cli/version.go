package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peerhub/peerhub/internal/buildinfo"
)

// versionText is what both `peerhub version` and `peerhub --version`
// print: the version, the commit and the Go version, one per line.
func versionText() string {
	info := buildinfo.Get()
	return fmt.Sprintf("peerhub %s\ncommit %s\n%s\n", info.Version, info.Commit, info.GoVersion)
}

// addVersionFlag gives root a --version flag (cobra adds it when Version
// is set) that prints versionText.
func addVersionFlag(root *cobra.Command) {
	root.Version = buildinfo.Get().Version
	root.SetVersionTemplate(versionText())
	root.InitDefaultVersionFlag()
	root.Flags().Lookup("version").Usage = "print the version, commit and Go version of this binary"
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}
