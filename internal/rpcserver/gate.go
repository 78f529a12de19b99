package rpcserver

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Service is a Connect service to serve with Server.Mount.
type Service struct {
	// Name is the fully-qualified service name, e.g.
	// "peerhub.peer.v1.PeerService".
	Name string
	// Handler builds the service's handler with opts: the generated
	// New…ServiceHandler bound to an implementation. Mount calls it once
	// per distinct read limit.
	Handler func(opts ...connect.HandlerOption) (string, http.Handler)
	// Auth checks the bearer token of every call but its public
	// procedures, before any byte of the request body is read; nil if this
	// server checks no token for the service (e.g. calls it forwards to
	// where they are checked).
	Auth *AuthInterceptor
	// Limits bound each procedure's request message.
	Limits ReadLimits
	// REST also serves the routes of the service's google.api.http
	// annotations, transcoded by vanguard, behind the same gate.
	REST bool
}

// route is how the gate serves one procedure.
type route struct {
	procedure string
	handler   http.Handler // connect's, with the procedure's read limit
	limit     int          // bytes of one request message
	// streaming says the request body holds any number of messages, so
	// only each message is bounded, not the body.
	streaming bool
}

// gate is what stands in front of a service's handlers: it admits a call
// (checks its token) and bounds its body before connect reads, validates or
// inflates a byte of it. A refused call costs the server its headers only.
type gate struct {
	s      *Server
	auth   *AuthInterceptor
	routes map[string]route // by procedure
	errors *connect.ErrorWriter
}

// admission is what a gate decided about a call of procedure: admitted
// (with the claims in the context), or refused with err. A REST route's
// gate hands it on through vanguard to the service's gate.
type admission struct {
	procedure string
	err       error
}

type admissionKey struct{}

// admit checks the call of procedure that r carries, once: a call that a
// REST route's gate decided on keeps that verdict. A refusal stands
// whatever procedure vanguard makes of the route; an admission counts only
// for the procedure it was made for.
func (g *gate) admit(r *http.Request, procedure string) (context.Context, error) {
	ctx := r.Context()
	if a, ok := ctx.Value(admissionKey{}).(admission); ok && (a.err != nil || a.procedure == procedure) {
		return ctx, a.err
	}
	if g.auth == nil {
		return ctx, nil
	}
	ctx, err := g.auth.authenticate(ctx, procedure, r.Header)
	if err != nil {
		return r.Context(), err
	}
	return context.WithValue(ctx, admissionKey{}, admission{procedure: procedure}), nil
}

// admitted reports whether a gate admitted ctx's call of procedure.
func admitted(ctx context.Context, procedure string) bool {
	a, ok := ctx.Value(admissionKey{}).(admission)
	return ok && a.err == nil && a.procedure == procedure
}

// ServeHTTP serves the Connect, gRPC and gRPC-Web calls of the service.
func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := g.routes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	start := time.Now()
	ctx, err := g.admit(r, rt.procedure)
	if err != nil {
		// The body is left unread: the error goes out in the caller's
		// protocol, and the server drops what the caller still sends.
		g.s.record(ctx, rt.procedure, start, err)
		_ = g.errors.Write(w, r, err)
		return
	}
	if !rt.streaming {
		r.Body = http.MaxBytesReader(w, r.Body, wireBytes(rt.limit))
	}
	rt.handler.ServeHTTP(w, r.WithContext(ctx))
}

// restGate is the gate of one REST route: it admits the call before
// vanguard reads its body (which it does before the service's handler runs
// for some routes: GET bodies are drained, request lines decoded), and
// hands the verdict on in the context. A refused call reaches vanguard
// without its body, so the service's gate writes the refusal and vanguard
// turns it into a REST error.
type restGate struct {
	g          *gate
	rt         route
	transcoder http.Handler
	direct     *directGet // nil if the route is always transcoded
}

func (h *restGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, err := h.g.admit(r, h.rt.procedure)
	if err == nil && h.direct != nil && h.direct.serve(h.g, w, r.WithContext(ctx)) {
		return
	}
	if err != nil {
		ctx = context.WithValue(r.Context(), admissionKey{}, admission{procedure: h.rt.procedure, err: err})
		r.Body, r.ContentLength = http.NoBody, 0
		r.Header.Del("Content-Length")
		r.Header.Del("Content-Encoding")
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, wireBytes(h.rt.limit))
	}
	h.transcoder.ServeHTTP(w, r.WithContext(ctx))
}

// Mount serves svc on the server's Mux: its Connect, gRPC and gRPC-Web
// calls, and (with svc.REST) its REST routes, each behind a gate that
// checks the token and bounds the request before connect reads any of it.
// Each procedure gets the handler options of HandlerOptions(svc.Auth) and
// its read limit.
func (s *Server) Mount(svc Service) error {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc.Name))
	if err != nil {
		return fmt.Errorf("mount %s: %w", svc.Name, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return fmt.Errorf("mount %s: not a service", svc.Name)
	}
	g := &gate{s: s, auth: svc.Auth, routes: map[string]route{}, errors: connect.NewErrorWriter()}
	var extra []connect.Interceptor
	if svc.Auth != nil {
		extra = append(extra, svc.Auth)
	}
	byLimit := map[int]http.Handler{} // one handler per distinct limit
	var path string
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		rt := route{
			procedure: "/" + svc.Name + "/" + string(m.Name()),
			streaming: m.IsStreamingClient(),
		}
		rt.limit = svc.Limits.For(rt.procedure)
		h, ok := byLimit[rt.limit]
		if !ok {
			opts := append(s.HandlerOptions(extra...), connect.WithReadMaxBytes(rt.limit), gzipCompression(rt.limit))
			path, h = svc.Handler(opts...)
			byLimit[rt.limit] = h
		}
		rt.handler = h
		g.routes[rt.procedure] = rt
	}
	if path == "" {
		return fmt.Errorf("mount %s: no methods", svc.Name)
	}
	s.Mux.Handle(path, g)
	if !svc.REST {
		return nil
	}
	return s.mountREST(sd, path, g)
}

// mountREST serves the REST routes of sd's google.api.http annotations:
// each route is a pattern of the Mux with its own restGate, in front of a
// vanguard transcoder that calls the service's gate. There is one
// transcoder per read limit, whose buffers and gzip are capped at it.
func (s *Server) mountREST(sd protoreflect.ServiceDescriptor, path string, g *gate) error {
	transcoders := map[int]http.Handler{}
	for _, limit := range slices.Sorted(maps.Keys(limitsOf(g.routes))) {
		t, err := vanguard.NewTranscoder(
			[]*vanguard.Service{vanguard.NewService(path, g, vanguard.WithMaxMessageBufferBytes(uint32(wireBytes(limit))))},
			vanguard.WithCompression("gzip", newGzipCompressor, cappedGzipFor(limit)),
		)
		if err != nil {
			return fmt.Errorf("REST routes of %s: %w", sd.FullName(), err)
		}
		// REST callers meet Connect's errors: unknown query parameters
		// named, and the same error bodies.
		if transcoders[limit], err = RESTErrors(t, string(sd.FullName())); err != nil {
			return err
		}
	}
	routes, err := restRoutes(sd)
	if err != nil {
		return err
	}
	for _, r := range routes {
		rt := g.routes[r.procedure]
		s.Mux.Handle(r.pattern, &restGate{g: g, rt: rt, transcoder: transcoders[rt.limit], direct: newDirectGet(r)})
	}
	return nil
}

// limitsOf returns the set of read limits of routes.
func limitsOf(routes map[string]route) map[int]bool {
	m := map[int]bool{}
	for _, rt := range routes {
		m[rt.limit] = true
	}
	return m
}
