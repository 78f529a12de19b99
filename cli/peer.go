package cli

import (
	"math"

	"github.com/spf13/cobra"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/relayagent"
	peertransfer "github.com/peerhub/peerhub/peer/transfer"
)

func init() { commands = append(commands, newPeerCommand) }

func newPeerCommand(g *globals) *cobra.Command {
	var cfg peer.Config
	var passwordFile string
	maxUpload := byteSize(peertransfer.DefaultMaxUploadSize)
	maxUploadTotal := byteSize(peer.DefaultMaxUploadTotal)
	var maxRate byteSize
	memoryLimit := byteSize(peer.DefaultMemoryLimit)
	cmd := &cobra.Command{
		Use:   "peer --share DIR --user NAME",
		Short: "Share a folder: index it, publish it to the directory, serve its files",
		Long: `Peer shares the files of a folder. It hashes them (only what changed since
the last run), logs in at the directory with the URL where it serves them,
publishes the index, heartbeats, and publishes new and removed files within
a second. Other peers download from it directly.

The password comes from $PEERHUB_PASSWORD or --password-file, never from the
command line. Other clients reach it only with tokens the directory issued
for this peer (download or upload). The peer also answers GetInfo, Search,
ListPeers and ListFiles by forwarding them, with the client's read token, to
its directory, so it can serve as a client's access point; logins go to the
directory itself, never through a peer.
It documents PeerService at /docs (HTML) and /openapi.json, and lets web
pages of other origins call it only with --cors-origin.`,
		Example: `  PEERHUB_PASSWORD=secret peerhub peer --share ~/Public --user alice
  peerhub peer --share /data --listen 0.0.0.0:8001 --advertise http://p1:8001 \
      --directory http://directory:8000 --user p1 --password-file /run/secrets/p1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.MaxUploadSize = int64(maxUpload)
			cfg.MaxUploadTotal = int64(maxUploadTotal)
			cfg.MaxRate = int64(maxRate)
			cfg.MemoryLimit = peerMemoryLimit(cmd.Flags().Changed("memory-limit"), int64(memoryLimit), g.streams.env)
			if cfg.User != "" {
				pw, err := readPassword(g, passwordFile, "Password for "+cfg.User+": ")
				if err != nil {
					return usageError{err}
				}
				cfg.Password = pw
			}
			if kh := knownHosts(g); kh != nil {
				cfg.KnownHosts = kh.Path
			}
			if err := cfg.WithDefaults().Validate(); err != nil {
				return usageError{err}
			}
			g.logger.Debug("memory limit", "bytes", cfg.ApplyMemoryLimit())
			return peer.Run(cmd.Context(), cfg, g.logger)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Share, "share", "", "folder to share (created if missing)")
	fs.StringVar(&cfg.Name, "name", "", "name the peer is listed under (default: the user)")
	fs.StringVar(&cfg.Listen, "listen", peer.DefaultListen, "host:port to serve files on")
	fs.StringVar(&cfg.Advertise, "advertise", "", "URL other peers reach this one at (default: https://LISTEN)")
	fs.StringVar(&cfg.Directory, "directory", peer.DefaultDirectory, "URL of the directory, with its pin after # (https://HOST:PORT#sha256//…, printed by the directory); without one its key is trusted on first use and remembered in $PEERHUB_CONFIG_DIR/known_hosts")
	fs.StringVar(&cfg.User, "user", "", "account to log in with")
	fs.StringVar(&passwordFile, "password-file", "", "file whose first line is the password (else $PEERHUB_PASSWORD)")
	fs.StringVar(&cfg.State, "state", "", "folder for the hash cache and incoming uploads (default: SHARE/.peerhub)")
	fs.BoolVar(&cfg.ShareHidden, "share-hidden", false, "share dotfiles and dot-folders too")
	fs.DurationVar(&cfg.Settle, "settle", index.DefaultSettle, "publish a new or changed file once it is closed by every writer (seen on Linux) and unchanged for this long")
	fs.BoolVar(&cfg.AcceptUploads, "accept-uploads", false, "let other users upload files into the shared folder")
	fs.Var(&maxUpload, "max-upload-size", "largest upload accepted, e.g. 64MiB")
	fs.Var(&maxUploadTotal, "max-upload-total", "most bytes all uploads may store in the shared folder together, counted across restarts in SHARE/.peerhub/uploaded-bytes (delete it to count from zero)")
	fs.IntVar(&cfg.MaxTransfers, "max-transfers", peertransfer.DefaultMaxTransfers, "downloads and uploads served at once; more wait in a short queue or are refused")
	fs.IntVar(&cfg.MaxTransfersPerAccount, "max-transfers-per-account", peertransfer.DefaultMaxPerAccount, "downloads and uploads one account may have running or waiting (-1: no cap)")
	fs.IntVar(&cfg.MaxTransfersPerAddress, "max-transfers-per-address", peertransfer.DefaultMaxPerAddress, "downloads and uploads one IP address (IPv6: /64) may have running or waiting (-1: no cap)")
	fs.DurationVar(&cfg.StallTimeout, "stall-timeout", rpcserver.DefaultStallTimeout, "end a transfer whose client sends or accepts less than 256KiB for this long (-1s: never)")
	fs.Var(&maxRate, "max-rate", "cap on outgoing file data per second, e.g. 8MiB (0: no cap)")
	fs.Var(&memoryLimit, "memory-limit", "soft limit on the peer's Go memory (heap, stacks; not the executable's own pages): past it the runtime collects garbage more often, at most about half the CPU, and never fails an allocation; 0: none. Without this flag or its variable, $GOMEMLIMIT applies if set")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "an operator's PEM certificate to serve instead of the generated one (kept in STATE/tls, whose pin the directory vouches for)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert (mode 0600)")
	fs.BoolVar(&cfg.InsecurePlaintext, "insecure-plaintext", false, "serve cleartext HTTP/2 (http://) instead of TLS: tests and local demos only")
	fs.StringVar(&cfg.SeedFrom, "seed-from", "", "on a first start with an empty --share, copy this folder's files into it")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", peer.DefaultShutdownGrace, "how long running transfers may finish at shutdown")
	fs.StringVar(&cfg.Relay, "relay", relayagent.ModeAuto, "when to wait for downloaders at the directory's relay: auto (when the directory cannot reach --advertise), always or never")
	corsFlag(fs, &cfg.CORS)
	envHelp(fs)
	return cmd
}

// peerMemoryLimit is the memory limit the peer sets, in bytes, from
// --memory-limit (flag given, or set from PEERHUB_MEMORY_LIMIT) and
// GOMEMLIMIT: the flag wins, and 0 on it means no limit; without it, a
// GOMEMLIMIT the Go runtime already applied stays (0: leave the runtime's);
// else the flag's default, peer.DefaultMemoryLimit.
func peerMemoryLimit(given bool, flag int64, env func(string) (string, bool)) int64 {
	switch {
	case given && flag == 0:
		return math.MaxInt64 // the runtime's "no limit"
	case given:
		return flag
	}
	if v, ok := env("GOMEMLIMIT"); ok && v != "" {
		return 0
	}
	return flag
}
