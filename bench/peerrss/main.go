// Command peerrss measures the peak memory of a peer serving downloads: it
// writes a large file into a new shared folder, indexes it, starts itself
// as the peer (a separate process serving the folder the way the peer
// daemon does: index from its cache, transfer.Service with the given
// options, PeerService on an rpcserver.Server over h2c), downloads the file
// several times in parallel from separate connections, hashing each copy,
// and reads the peer's peak resident set size (VmHWM) from /proc. Linux
// only. bench/peer_rss.sh runs it.
//
//	go run ./bench/peerrss -size 1GiB -parallel 4 -max 32MiB
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// size is a flag value in bytes written like 1GiB, 512KiB or 1000.
type size int64

func (s *size) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *size) Set(v string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a size such as 1GiB, got %q", v)
	}
	*s = size(n * mult)
	return nil
}

func run(args []string) int {
	fs := flag.NewFlagSet("peerrss", flag.ContinueOnError)
	fileSize := size(1 << 30)
	maxRSS := size(32 << 20)
	chunk := size(0)
	fs.Var(&fileSize, "size", "size of the file to download")
	fs.Var(&maxRSS, "max", "fail when the peer's peak RSS is above this")
	fs.Var(&chunk, "chunk", "transfer chunk size (0: transfer.DefaultChunkSize)")
	parallel := fs.Int("parallel", 4, "parallel downloads, each on its own connection")
	serve := fs.String("serve", "", "internal: serve this folder as the measured peer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if *serve != "" {
		err = servePeer(*serve, int(chunk))
	} else {
		err = measure(int64(fileSize), *parallel, int(chunk), int64(maxRSS))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerrss:", err)
		return 1
	}
	return 0
}

// servePeer is the measured process: it serves dir as the peer daemon
// does and prints "address token files-hashed" on stdout; it stops on
// SIGTERM.
func servePeer(dir string, chunk int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ix, err := index.Open(ctx, index.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer ix.Close()
	if _, err := ix.Scan(ctx); err != nil {
		return err
	}
	svc, err := transfer.New(transfer.Options{Catalog: ix, Root: ix.Root(), ChunkSize: chunk})
	if err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	// A download token for this peer, as a directory issues them.
	claims := token.Scoped(token.ScopeDownload, "rss", "rss", "rss", "")
	raw, _, err := token.NewSigner("k", priv, token.DefaultIssuer).Sign(claims, time.Now(), time.Hour)
	if err != nil {
		return err
	}
	verifier := token.NewVerifier(token.DefaultIssuer, []token.PublicKey{{ID: "k", Key: pub}})
	srv := rpcserver.New(rpcserver.Options{Services: []string{peerv1connect.PeerServiceName}})
	auth := rpcserver.NewAuthInterceptor(func(ctx context.Context, _, raw string) (token.Claims, error) {
		return verifier.VerifyFor(ctx, raw, token.Need{Scopes: []string{token.ScopeDownload}, Audience: "rss"})
	})
	srv.Mux.Handle(transferapi.NewHandler(svc, nil, srv.HandlerOptions(auth)...))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %d\n", ln.Addr(), raw, ix.Hashed())
	return srv.Serve(ctx, ln)
}

// measure runs the whole measurement and prints its result.
func measure(fileSize int64, parallel, chunk int, maxRSS int64) (err error) {
	dir, err := os.MkdirTemp("", "peerrss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	want, err := writeRandomFile(filepath.Join(dir, "big.bin"), fileSize)
	if err != nil {
		return err
	}
	// Index here, so the peer finds every hash in the cache: its peak is
	// the serving's, as for a daemon restarted over an indexed folder.
	ix, err := index.Open(context.Background(), index.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if _, err := ix.Scan(context.Background()); err != nil {
		ix.Close()
		return err
	}
	if err := ix.Close(); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve", dir, "-chunk", strconv.Itoa(chunk))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("peer: %w", werr)
		}
	}()
	pid := cmd.Process.Pid
	var addr, tok string
	var hashed int
	if _, err := fmt.Fscan(bufio.NewReader(stdout), &addr, &tok, &hashed); err != nil {
		return fmt.Errorf("read the peer's address: %w", err)
	}
	idle, err := procStatus(pid, "VmHWM")
	if err != nil {
		return err
	}
	idleAnon, _ := procStatus(pid, "RssAnon")

	// The kernel keeps no peak of the anonymous RSS (the peer's own
	// memory, without its mapped executable): sample it.
	var peakAnon atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v, err := procStatus(pid, "RssAnon"); err == nil && v > peakAnon.Load() {
				peakAnon.Store(v)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	for i := range parallel {
		wg.Go(func() { errs[i] = download(addr, tok, want, fileSize) })
	}
	wg.Wait()
	took := time.Since(start)
	close(stopSampling)
	<-sampled
	if err := errors.Join(errs...); err != nil {
		return err
	}
	peak, err := procStatus(pid, "VmHWM")
	if err != nil {
		return err
	}
	file, _ := procStatus(pid, "RssFile")
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	fmt.Printf("peer serving %d × %d MiB in parallel (chunk %d B): peak RSS (VmHWM) %.1f MiB (%.1f MiB before the downloads)\n",
		parallel, fileSize>>20, chunkOrDefault(chunk), mib(peak), mib(idle))
	fmt.Printf("  anonymous RSS %.1f MiB idle, %.1f MiB peak; file-backed (executable) %.1f MiB; %d files hashed at start\n",
		mib(idleAnon), mib(peakAnon.Load()), mib(file), hashed)
	fmt.Printf("  %.0f MiB/s in total, %.1f s\n", float64(fileSize)*float64(parallel)/(1<<20)/took.Seconds(), took.Seconds())
	if peak > maxRSS {
		return fmt.Errorf("peak RSS %.1f MiB is above %.1f MiB", mib(peak), mib(maxRSS))
	}
	return nil
}

func chunkOrDefault(c int) int {
	if c == 0 {
		return transfer.DefaultChunkSize
	}
	return c
}

// download fetches the whole file over its own connection and checks its
// SHA-256.
func download(addr, tok, want string, fileSize int64) error {
	var t rpcclient.Token
	t.Set(tok)
	hc := rpcclient.NewHTTPClient()
	defer hc.CloseIdleConnections()
	client := peerv1connect.NewPeerServiceClient(hc, "http://"+addr, rpcclient.Options(&t, rpcclient.NoCompression())...)
	h := sha256.New()
	req := &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Sha256{Sha256: want}}
	n, err := transferapi.Fetch(context.Background(), client, req, func(_ int64, p []byte) error {
		h.Write(p)
		return nil
	})
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != fileSize || got != want {
		return fmt.Errorf("downloaded %d bytes with sha256 %s, want %d, %s", n, got, fileSize, want)
	}
	return nil
}

// writeRandomFile writes n pseudo-random bytes to path, dated a minute ago
// (older than the index's racy window, so its hashes are cached), and
// returns their SHA-256.
func writeRandomFile(path string, n int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 4<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8([32]byte{42}), n); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// procStatus returns a memory field of /proc/PID/status (VmHWM: peak
// resident set size; RssAnon, RssFile: the anonymous and file-backed parts
// of the current one), in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
