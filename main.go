// Command peerhub runs every role of the peerhub file-sharing network: the
// directory, a peer, the command-line client and the local demo.
package main

import (
	"context"
	"os"
	"syscall"

	"github.com/peerhub/peerhub/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
