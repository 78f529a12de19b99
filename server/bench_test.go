package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// BenchmarkHeartbeat measures heartbeats per second through the real
// Connect handler (auth, validation, metrics, store, token) over loopback
// h2c, with many peers heartbeating at once: multiplexed on one connection,
// and each on its own connection as real peers are.
//
//	go test -run '^$' -bench 'BenchmarkHeartbeat$' -benchtime 5s ./server/
func BenchmarkHeartbeat(b *testing.B) {
	for _, mode := range []struct {
		name   string
		shared bool
	}{{"shared-conn", true}, {"conn-per-peer", false}} {
		b.Run(mode.name, func(b *testing.B) {
			e := start(b)
			// One logged-in peer per goroutine, made before the clock
			// starts.
			b.SetParallelism(benchParallelism)
			clients := make(chan directoryv1connect.DirectoryServiceClient, benchParallelism*runtime.GOMAXPROCS(0))
			shared := rpcclient.NewHTTPClient()
			for i := range cap(clients) {
				peer := e.login(alice, alicePW, "http://127.0.0.1:9001", fmt.Sprintf("peer-%d", i))
				tok := new(rpcclient.Token)
				tok.Set(peer.GetToken())
				hc := shared
				if !mode.shared {
					hc = rpcclient.NewHTTPClient()
				}
				clients <- directoryv1connect.NewDirectoryServiceClient(hc, e.url, rpcclient.Options(tok)...)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := <-clients
				defer func() { clients <- c }()
				for pb.Next() {
					if _, err := c.Heartbeat(b.Context(), connect.NewRequest(&directoryv1.HeartbeatRequest{})); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
		})
	}
}

// benchParallelism is the goroutines per core: round trips over loopback
// are latency-bound, so many calls must be in flight to load the server.
const benchParallelism = 32

// BenchmarkHeartbeatHandler measures the server's own cost of a heartbeat:
// the same Connect handler and interceptors, called in-process without the
// network, so it shows what the directory could sustain where loopback
// round trips are cheap.
//
//	go test -run '^$' -bench BenchmarkHeartbeatHandler ./server/
func BenchmarkHeartbeatHandler(b *testing.B) {
	e := start(b)
	tokens := make(chan string, runtime.GOMAXPROCS(0)*4)
	for i := range cap(tokens) {
		tokens <- e.login(alice, alicePW, "http://127.0.0.1:9001", fmt.Sprintf("peer-%d", i)).GetToken()
	}
	h := e.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tok := <-tokens
		defer func() { tokens <- tok }()
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, directoryv1connect.DirectoryServiceHeartbeatProcedure, http.NoBody)
			req.Header.Set("Content-Type", "application/proto")
			req.Header.Set("Connect-Protocol-Version", "1")
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("HTTP %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
}
