package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/peer"
	"github.com/peerhub/peerhub/server"
	"github.com/peerhub/peerhub/server/directory"
)

func init() { commands = append(commands, newDemoCommand) }

// DemoPassword is the password of every demo account. Demo only.
const DemoPassword = "peerhub-demo"

// demoPeers are the demo's peer names; each is also an account, as is
// "demo" for the command line.
var demoPeers = []string{"p1", "p2", "p3"}

// demoSharedSize is the size of the file all three demo peers share, large
// enough that a download visibly uses all of them.
const demoSharedSize = 32 << 20 // bytes

func newDemoCommand(g *globals) *cobra.Command {
	var data string
	var host string
	var basePort int
	var heartbeat time.Duration
	var plaintext bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a directory and three peers locally, with sample files",
		Long: `Demo starts, in this one process, a directory (embedded SQLite) and three
peers sharing generated sample folders, on 127.0.0.1:8000-8003, with demo
accounts p1, p2, p3 and demo (password "peerhub-demo"), and prints commands
to try. Ctrl-C stops everything. State goes to a temporary folder unless
--data is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				tmp, err := os.MkdirTemp("", "peerhub-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				data = tmp
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), g.logger, demoConfig{data: data, host: host, basePort: basePort, heartbeat: heartbeat, plaintext: plaintext})
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "folder for the demo's state and shared folders (default: a temporary folder, removed at exit)")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "address to listen on")
	cmd.Flags().IntVar(&basePort, "base-port", 8000, "the directory's port; peers use the next three (0: pick free ports)")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat", 2*time.Second, "heartbeat interval of the demo directory")
	cmd.Flags().BoolVar(&plaintext, "insecure-plaintext", false, "serve cleartext HTTP/2 (http://) instead of TLS")
	envHelp(cmd.Flags())
	return cmd
}

type demoConfig struct {
	data      string
	host      string
	basePort  int
	heartbeat time.Duration
	// plaintext serves cleartext instead of TLS.
	plaintext bool
	// ready, if set, receives the directory URL and the peers' URLs once
	// everything serves (tests use it).
	ready func(directory string, peers []string)
}

// runDemo runs the demo network until ctx is done.
func runDemo(ctx context.Context, out io.Writer, log *slog.Logger, c demoConfig) error {
	port := func(i int) string {
		if c.basePort == 0 {
			return "0"
		}
		return strconv.Itoa(c.basePort + i)
	}
	dcfg := server.Config{
		Listen:    net.JoinHostPort(c.host, port(0)),
		Data:      filepath.Join(c.data, "directory"),
		Heartbeat: c.heartbeat,

		InsecurePlaintext: c.plaintext,
	}
	// The demo's passwords are printed for everyone to use, so a slow hash
	// protects nothing; the cheapest one keeps every command's login (and
	// the demo's own test under -race) quick.
	dcfg.Directory.PasswordCost = bcrypt.MinCost
	// Each peer's dashboard logs in at the directory from the browser: the
	// directory allows the peers' origins, known once they listen.
	var peerOrigins sync.Map // of string to struct{}
	dcfg.CORS.Allow = func(origin string) bool {
		_, ok := peerOrigins.Load(origin)
		return ok
	}
	dir, err := server.New(ctx, dcfg, log.With("role", "directory"))
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, u := range append([]string{"demo"}, demoPeers...) {
		if err := dir.Directory().AddUser(ctx, u, DemoPassword); err != nil && !errors.Is(err, directory.ErrAlreadyExists) {
			return fmt.Errorf("demo account %s: %w", u, err)
		}
	}
	dirLn, err := dir.Listen(ctx)
	if err != nil {
		return err
	}
	dirURL := dir.PinnedURL(dirLn)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(demoPeers)+1)
	wg.Go(func() {
		if err := dir.Serve(ctx, dirLn); err != nil {
			errc <- fmt.Errorf("directory: %w", err)
			cancel()
		}
	})
	var peerURLs []string
	for i, name := range demoPeers {
		share := filepath.Join(c.data, name)
		if err := writeDemoFiles(share, i+1); err != nil {
			cancel()
			wg.Wait()
			return err
		}
		p, err := peer.New(ctx, peer.Config{
			Share: share, Name: name, User: name, Password: DemoPassword,
			Listen: net.JoinHostPort(c.host, port(i+1)), Directory: dirURL,
			AcceptUploads: true, MaxUploadSize: 64 << 20, InsecurePlaintext: c.plaintext,
		}, log.With("role", "peer", "peer", name))
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		ln, err := p.Listen(ctx)
		if err != nil {
			p.Close()
			cancel()
			wg.Wait()
			return fmt.Errorf("peer %s: %w", name, err)
		}
		peerURLs = append(peerURLs, p.URL(ln))
		origin := strings.TrimSuffix(p.URL(ln), "/")
		peerOrigins.Store(origin, struct{}{})
		// The same page opened as localhost is another origin.
		peerOrigins.Store(strings.Replace(origin, "://127.0.0.1:", "://localhost:", 1), struct{}{})
		wg.Go(func() {
			defer p.Close()
			if err := p.Serve(ctx, ln); err != nil {
				errc <- fmt.Errorf("peer %s: %w", name, err)
				cancel()
			}
		})
	}
	if c.ready != nil {
		c.ready(dirURL, peerURLs)
	}
	// curl checks the pin (-k only skips the authority check); grpcurl
	// takes the self-signed certificate as its authority.
	// buf curl, like grpcurl, has no pins: the certificate file is its
	// only authority; over cleartext it needs HTTP/2 by prior knowledge.
	curlTrust, grpcurlTrust, bufTrust := "", "-plaintext", "--http2-prior-knowledge"
	if !c.plaintext {
		curlTrust = "-k --pinnedpubkey " + string(dir.Pin()) + " "
		grpcurlTrust = "-cacert " + dir.CertFile()
		bufTrust = "--cacert " + dir.CertFile()
	}
	fmt.Fprintf(out, `peerhub demo is running (Ctrl-C stops it).

  directory  %s
  peers      p1 %s   p2 %s   p3 %s
  state      %s

Accounts p1, p2, p3 and demo; password %q (demo only). Try, in another terminal:

  export PEERHUB_DIRECTORY=%s PEERHUB_USER=demo PEERHUB_PASSWORD=%s
  go run . peers
  go run . search archivo
  go run . get archivo1_p2.txt -o /tmp
  go run . get compartido.bin -o /tmp          # from all three peers at once
  go run . menu

  TOKEN=$(curl -s %s%s/v1/login -H 'Content-Type: application/json' -d '{"username":"demo","password":"%s"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s %s"%s/v1/search?query=archivo" -H "Authorization: Bearer $TOKEN"
  go tool -modfile=tools/go.mod grpcurl %s %s list
  go tool -modfile=tools/go.mod buf curl %s -H "Authorization: Bearer $TOKEN" -d '{"query":"archivo"}' %s/peerhub.directory.v1.DirectoryService/Search
`, dirURL, peerURLs[0], peerURLs[1], peerURLs[2], c.data, DemoPassword,
		dirURL, DemoPassword, curlTrust, dir.URL(dirLn), DemoPassword, curlTrust, dir.URL(dirLn), grpcurlTrust, dirLn.Addr().String(),
		bufTrust, dir.URL(dirLn))
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		fmt.Fprintln(out, "peerhub demo stopped.")
		return nil
	}
}

// writeDemoFiles fills a demo peer's folder like the seed's volumes (three
// small files named after the peer) plus one larger file every peer shares.
// Existing files are kept.
func writeDemoFiles(share string, n int) error {
	files := map[string][]byte{
		fmt.Sprintf("archivo1_p%d.txt", n): fmt.Appendf(nil, "Archivo de texto 1 del Peer%d.\nCompartido en la red peerhub.\n", n),
		fmt.Sprintf("archivo2_p%d.csv", n): fmt.Appendf(nil, "id,nombre,valor\n1,peer%d,10\n2,peer%d,20\n", n, n),
		fmt.Sprintf("archivo3_p%d.txt", n): fmt.Appendf(nil, "Archivo 3 del Peer%d: notas de la demostración.\n", n),
	}
	if err := os.MkdirAll(share, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := writeIfAbsent(filepath.Join(share, name), b); err != nil {
			return err
		}
	}
	shared := make([]byte, demoSharedSize)
	rng := rand.NewChaCha8([32]byte{'p', 'e', 'e', 'r', 'h', 'u', 'b'})
	_, _ = rng.Read(shared)
	return writeIfAbsent(filepath.Join(share, "compartido.bin"), shared)
}

func writeIfAbsent(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
