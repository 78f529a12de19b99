package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvPrefix starts the environment variable of every flag.
const EnvPrefix = "PEERHUB_"

// EnvName is the environment variable of a flag: --max-rate is
// PEERHUB_MAX_RATE.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of cmd that was not given on the command line from
// its environment variable, if set. Command-line flags win over the
// environment, which wins over defaults.
func applyEnv(cmd *cobra.Command, lookup func(string) (string, bool)) error {
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "help" {
			return
		}
		v, ok := lookup(EnvName(f.Name))
		if !ok {
			return
		}
		if err := cmd.Flags().Set(f.Name, v); err != nil {
			firstErr = fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err)
		}
	})
	return firstErr
}

// envHelp annotates flag usage strings with their environment variable, so
// --help shows both.
func envHelp(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || strings.Contains(f.Usage, EnvPrefix) {
			return
		}
		f.Usage += " [$" + EnvName(f.Name) + "]"
	})
}
