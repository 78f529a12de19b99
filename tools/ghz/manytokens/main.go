// Command manytokens is ghz (its runner, v0.93.0) with one bearer token per
// session: it sends a unary gRPC call from many sessions over many
// connections, request i carrying token i mod N of a tokens file, and
// prints ghz's JSON report. bench/heartbeat.sh uses it to make many peers
// heartbeat the real directory at once; the ghz command line has one
// metadata set for every request, so it can only be one session.
//
// Usage: manytokens -call SERVICE/METHOD -tokens FILE [-c 64] [-connections 16] [-n 100000] [-d '{}'] [-cpu FILE] HOST:PORT
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/bojand/ghz/printer"
	"github.com/bojand/ghz/runner"
	"google.golang.org/grpc/metadata"
)

func main() {
	call := flag.String("call", "", "fully-qualified method, e.g. peerhub.directory.v1.DirectoryService/Heartbeat")
	tokensFile := flag.String("tokens", "", "file of bearer tokens, one a line; empty: no authorization header")
	conc := flag.Uint("c", 64, "concurrent requests (ghz -c)")
	conns := flag.Uint("connections", 16, "HTTP/2 connections the requests are spread over (ghz --connections)")
	total := flag.Uint("n", 100000, "requests in all (ghz -n)")
	data := flag.String("d", "{}", "request message as JSON (ghz -d)")
	cpuFile := flag.String("cpu", "", "file to write this process's own CPU time to (user+system, in seconds): the generator's cost, next to the server's")
	flag.Parse()
	if flag.NArg() != 1 || *call == "" {
		fmt.Fprintln(os.Stderr, "usage: manytokens -call SERVICE/METHOD [-tokens FILE] [-c N] [-connections N] [-n N] [-d JSON] HOST:PORT")
		os.Exit(2)
	}
	var tokens []string
	if *tokensFile != "" {
		var err error
		if tokens, err = readLines(*tokensFile); err != nil || len(tokens) == 0 {
			fmt.Fprintf(os.Stderr, "manytokens: tokens file %s: %v (%d tokens)\n", *tokensFile, err, len(tokens))
			os.Exit(2)
		}
	}
	// One metadata set per token, built once: the provider runs for every
	// request and must cost the load generator next to nothing.
	mds := make([]metadata.MD, len(tokens))
	for i, t := range tokens {
		mds[i] = metadata.Pairs("authorization", "Bearer "+t)
	}
	report, err := runner.Run(*call, flag.Arg(0),
		runner.WithInsecure(true),
		runner.WithConcurrency(*conc),
		runner.WithConnections(*conns),
		runner.WithTotalRequests(*total),
		runner.WithDataFromJSON(*data),
		runner.WithMetadataProvider(func(cd *runner.CallData) (*metadata.MD, error) {
			if len(mds) == 0 {
				return &metadata.MD{}, nil
			}
			md := mds[cd.RequestNumber%int64(len(mds))]
			return &md, nil
		}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manytokens:", err)
		os.Exit(1)
	}
	p := printer.ReportPrinter{Out: os.Stdout, Report: report}
	if err := p.Print("json"); err != nil {
		fmt.Fprintln(os.Stderr, "manytokens:", err)
		os.Exit(1)
	}
	if *cpuFile != "" {
		if err := writeCPU(*cpuFile); err != nil {
			fmt.Fprintln(os.Stderr, "manytokens:", err)
			os.Exit(1)
		}
	}
}

// writeCPU writes the user+system CPU time this process has used, in
// seconds, to path: the load generator shares the machine with the server,
// so what it costs per request says how much of the machine is left.
func writeCPU(path string) error {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return fmt.Errorf("getrusage: %w", err)
	}
	secs := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	return os.WriteFile(path, []byte(fmt.Sprintf("%.6f\n", secs)), 0o644)
}

// readLines returns the non-empty lines of a file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
