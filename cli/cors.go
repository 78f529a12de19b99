package cli

import (
	"github.com/spf13/pflag"

	"github.com/peerhub/peerhub/internal/rpcserver"
)

// corsFlag defines --cors-origin, the same on every serving command:
// repeatable, and comma-separated in $PEERHUB_CORS_ORIGIN.
func corsFlag(fs *pflag.FlagSet, c *rpcserver.CORS) {
	fs.StringSliceVar(&c.Origins, "cors-origin", nil, `let web pages of this origin (https://host[:port], or "*" for any) call the API from a browser; repeatable or comma-separated (default: none)`)
}
