// Package rpcserver owns how every peerhub role serves its Connect handlers:
// one http.ServeMux on one port speaking HTTP/1.1, HTTP/2 without TLS (h2c)
// and HTTP/2 over TLS; the gRPC health and reflection services (the latter
// with the proto comments); /metrics; the API documents (/openapi.json,
// /docs); the web dashboard (/); CORS for browsers of configured origins; the interceptors every
// role shares (request validation, metrics, logging, bearer-token
// authentication); the gate in front of each service (Mount), which checks
// the token before a byte of the body is read and bounds each procedure's
// request; the stall watchdog, which ends requests whose client stops
// sending or reading; and graceful shutdown.
package rpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"connectrpc.com/validate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/peerhub/peerhub/internal/apidocs"
	"github.com/peerhub/peerhub/internal/http2tuning"
	"github.com/peerhub/peerhub/internal/webui"
)

// Timeouts of the HTTP server. There is no write timeout: downloads are long
// streams, bounded by their own deadlines instead.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 2 * time.Minute
	// DefaultShutdownGrace is how long running calls get to finish after a
	// shutdown signal before their connections are closed.
	DefaultShutdownGrace = 10 * time.Second
)

// Limits of the server side; the HTTP/2 frame size and windows are
// internal/http2tuning's, the same as the clients'.
const (
	MaxConcurrentStream = 256     // streams per connection
	maxHeaderBytes      = 1 << 16 // bytes of request headers
	compressMinBytes    = 1024    // smaller responses are not worth gzip
)

// Options configure a Server.
type Options struct {
	// Logger receives one line per failed call and lifecycle events.
	Logger *slog.Logger
	// Services are the fully-qualified names of the services mounted, for
	// reflection and health.
	Services []string
	// Docs is the fully-qualified name of the service whose API documents
	// are served at /openapi.json and /docs (those of its proto package);
	// none if empty.
	Docs string
	// Dashboard is the web dashboard served at / and /ui/; none if zero.
	Dashboard webui.Dashboard
	// CORS lets web pages of other origins call every route; none if zero.
	CORS CORS
	// TLS makes the server speak TLS (HTTP/2 and HTTP/1.1 by ALPN, see
	// identity.ServerConfig); nil serves cleartext (HTTP/1.1 and h2c),
	// which the roles do only when told --insecure-plaintext.
	TLS *tls.Config
	// ShutdownGrace is how long running calls may finish after ctx is done;
	// DefaultShutdownGrace if zero.
	ShutdownGrace time.Duration
	// Registry collects metrics; a new one if nil. Each Server has its own,
	// so several servers can run in one process (tests, the demo).
	Registry *prometheus.Registry
	// StallTimeout ends a request whose client sends or accepts less than
	// StallBytes for this long (see stallGuard); DefaultStallTimeout if
	// zero, never if negative.
	StallTimeout time.Duration
}

// Server is an HTTP server for Connect handlers.
type Server struct {
	// Mux is where handlers are mounted.
	Mux *http.ServeMux
	// Health reports each service's status to the gRPC health protocol.
	Health *grpchealth.StaticChecker
	// Registry is the server's Prometheus registry, served at /metrics.
	Registry *prometheus.Registry

	opts     Options
	handler  http.Handler
	log      *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	stalls   *prometheus.CounterVec
}

// New returns a Server with health, reflection, /metrics, the API
// documents of o.Docs and o.Dashboard mounted. It panics if the
// descriptors or documents that `make generate` embedded are broken or lack
// o.Docs, or the dashboard's embedded pages are: a build defect, which
// every test that starts a server would show.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{
		Mux:      http.NewServeMux(),
		Health:   grpchealth.NewStaticChecker(o.Services...),
		Registry: o.Registry,
		opts:     o,
		log:      o.Logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerhub_rpc_requests_total",
			Help: "RPCs handled, by procedure and Connect code (ok for success).",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "peerhub_rpc_duration_seconds",
			Help:    "Time to handle an RPC (for streams: the whole stream), by procedure.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"procedure"}),
		stalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerhub_rpc_stalls_total",
			Help: "Requests ended because their client stopped sending (read) or accepting (write) data for the stall timeout.",
		}, []string{"direction"}),
	}
	for _, d := range directionNames {
		s.stalls.WithLabelValues(d) // export zeros before the first stall
	}
	s.Registry.MustRegister(s.requests, s.duration, s.stalls)
	// Health and reflection need no token; their requests are a service
	// name or a file name, so the default read limit bounds them.
	small := []connect.HandlerOption{connect.WithReadMaxBytes(DefaultReadLimit), gzipCompression(DefaultReadLimit)}
	s.Mux.Handle(grpchealth.NewHandler(s.Health, small...))
	// Reflection answers from the descriptors of `make generate`, which
	// keep the proto comments; those compiled into the binary do not.
	resolver, err := apidocs.Resolver()
	if err != nil {
		panic(fmt.Sprintf("rpcserver: %v", err))
	}
	services := slices.Clone(o.Services)
	reflector := grpcreflect.NewReflector(grpcreflect.NamerFunc(func() []string { return services }), grpcreflect.WithDescriptorResolver(resolver))
	s.Mux.Handle(grpcreflect.NewHandlerV1(reflector, small...))
	s.Mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, small...))
	s.Mux.Handle("/metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	if o.Docs != "" {
		if err := apidocs.Mount(s.Mux, o.Docs); err != nil {
			panic(fmt.Sprintf("rpcserver: API documents: %v", err))
		}
	}
	if err := webui.Mount(s.Mux, o.Dashboard); err != nil {
		panic(fmt.Sprintf("rpcserver: %v", err))
	}
	s.handler = o.CORS.wrap(explainMediaType(s.stallGuard(s.Mux)), o.Services)
	return s
}

// Handler is the server's HTTP handler: every route of Mux, under the stall
// watchdog, behind CORS when origins are allowed.
func (s *Server) Handler() http.Handler { return s.handler }

// HandlerOptions are the options every Connect handler of this server takes:
// validation of requests against their protovalidate rules, metrics and
// logging, then extra (e.g. authentication) innermost. Requests are read up
// to DefaultReadLimit bytes; Mount gives each procedure its own limit.
func (s *Server) HandlerOptions(extra ...connect.Interceptor) []connect.HandlerOption {
	interceptors := append([]connect.Interceptor{&observer{s}, validate.NewInterceptor()}, extra...)
	return []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		connect.WithCompressMinBytes(compressMinBytes),
		connect.WithReadMaxBytes(DefaultReadLimit),
		gzipCompression(DefaultReadLimit),
	}
}

// Serve serves on ln until ctx is done, then stops accepting calls, gives
// running ones ShutdownGrace to finish, and returns. It returns nil after a
// clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h2 := http2tuning.Config()
	h2.MaxConcurrentStreams = MaxConcurrentStream
	// A client that reads nothing at all, not even the frames that would
	// reset its stalled streams, loses its connection.
	h2.WriteByteTimeout = max(s.opts.StallTimeout, 0)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             h2,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context {
			// Calls outlive the serve context by the grace period only.
			return context.WithoutCancel(ctx)
		},
	}
	tlsOn := s.opts.TLS != nil
	if tlsOn {
		srv.TLSConfig = s.opts.TLS.Clone()
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("serving", "address", ln.Addr().String(), "tls", tlsOn, "services", s.opts.Services)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.Health.SetStatus("", grpchealth.StatusNotServing)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("calls still running after the shutdown grace period; closing them", "grace", s.opts.ShutdownGrace)
		err = srv.Close()
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	s.log.Info("stopped", "address", ln.Addr().String())
	return nil
}

// observer is the metrics-and-logging interceptor: it counts every call and
// logs every failed one, except the internal errors ConnectError logged
// already with their request id.
type observer struct{ s *Server }

// record counts a call of procedure that started at start and ended with
// err, and logs it if it failed. The gate records the calls it refuses
// itself, as they never reach the interceptors.
func (s *Server) record(ctx context.Context, procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	s.requests.WithLabelValues(procedure, code).Inc()
	s.duration.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
	if err != nil && !logged(err) {
		level := slog.LevelInfo
		if c := connect.CodeOf(err); c == connect.CodeInternal || c == connect.CodeUnknown || c == connect.CodeDataLoss {
			level = slog.LevelError
		}
		s.log.Log(ctx, level, "call failed", "procedure", procedure, "code", code, "error", err.Error(), "duration", time.Since(start))
	}
}

func (o *observer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		o.s.record(ctx, req.Spec().Procedure, start, err)
		return res, err
	}
}

func (o *observer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (o *observer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		o.s.record(ctx, conn.Spec().Procedure, start, err)
		return err
	}
}
