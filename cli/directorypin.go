package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/peerhub/peerhub/internal/identity"
)

func newDirectoryPinCommand(g *globals, f *directoryFlags) *cobra.Command {
	var certFile string
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "Print the pin of the directory's TLS key, for clients' URLs and curl --pinnedpubkey",
		Long: `Print the pin of the directory's TLS key: "sha256//" and the base64 SHA-256
of its public key, the form curl --pinnedpubkey takes. Clients that get the
directory's URL with it after "#" (https://HOST:8000#sha256//…) trust that
key and no other, without asking anyone. It reads the certificate the
directory generated in --data (or --tls-cert), and never creates one.`,
		Example: `  peerhub directory pin --data ./peerhub-data
  curl --pinnedpubkey "$(peerhub directory pin)" -k https://127.0.0.1:8000/v1/...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := certFile
			if path == "" {
				path = filepath.Join(f.cfg.Data, identity.CertFile)
			}
			pin, err := identity.PinOfFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no certificate at %s: start the directory once with --data %s (it generates its key there), or give --tls-cert", path, f.cfg.Data)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), pin)
			return nil
		},
	}
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "PEM certificate the directory serves (default: the generated one in --data)")
	envHelp(cmd.Flags())
	return cmd
}
