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

// noEnv is the annotation of a flag that has no environment variable:
// one that only makes sense typed on the command line (see ignoreEnv).
const noEnv = "peerhub_no_env"

// ignoreEnv makes applyEnv leave flag name of fs alone: the menu's --json,
// say, which is refused when typed but must not make the menu unusable for
// a shell that exports PEERHUB_JSON=true for every other command.
func ignoreEnv(fs *pflag.FlagSet, name string) {
	_ = fs.SetAnnotation(name, noEnv, []string{"true"})
}

// applyEnv sets every flag of cmd that was not given on the command line from
// its environment variable, if set. Command-line flags win over the
// environment, which wins over defaults.
func applyEnv(cmd *cobra.Command, lookup func(string) (string, bool)) error {
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "help" || f.Annotations[noEnv] != nil {
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
		if f.Name == "help" || strings.Contains(f.Usage, EnvPrefix) || f.Annotations[noEnv] != nil {
			return
		}
		f.Usage += " [$" + EnvName(f.Name) + "]"
	})
}
