package rpcserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// AnyOrigin in CORS.Origins allows web pages from every origin.
const AnyOrigin = "*"

// corsMaxAge is how long a browser may cache a preflight answer, in
// seconds (Chromium caps it at 2 hours).
const corsMaxAge = 2 * 60 * 60

// CORS configures cross-origin resource sharing: which web pages, besides
// those the server itself serves, a browser lets call the server's Connect,
// gRPC-Web and REST routes. The zero value allows none (browsers then
// refuse every cross-origin call, as without CORS).
type CORS struct {
	// Origins are the allowed origins, each scheme://host[:port] with
	// scheme http or https (e.g. https://app.example.com), or AnyOrigin.
	Origins []string
	// Allow, if set, allows the origins it reports besides Origins: for
	// a program whose allowed origins appear while it runs (a test
	// network allows its peers' dashboards as they start). Flags set
	// Origins only.
	Allow func(origin string) bool
}

// Validate reports the first origin that is not an origin.
func (c CORS) Validate() error {
	for _, o := range c.Origins {
		if err := checkOrigin(o); err != nil {
			return fmt.Errorf("CORS origin %q: %w", o, err)
		}
	}
	return nil
}

func checkOrigin(o string) error {
	if o == AnyOrigin {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New(`want scheme://host[:port] with scheme http or https, e.g. https://app.example.com, or "*" for any origin`)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return errors.New("an origin is only scheme://host[:port]: no path (not even a trailing /), query, fragment or user")
	}
	if strings.Contains(u.Host, "*") {
		return errors.New(`"*" is allowed only alone, for any origin`)
	}
	return nil
}

// fileRequestHeaders and fileResponseHeaders are the headers of a peer's
// plain HTTP downloads (/files, peer/httpfiles) that a page's fetch may send
// (a resumed or partial download) and read (what part it got, under which
// name and version), besides Connect's.
var (
	fileRequestHeaders  = []string{"Range", "If-Range"}
	fileResponseHeaders = []string{"Content-Range", "Content-Disposition", "Accept-Ranges", "ETag"}
)

// wrap returns h behind a CORS handler, or h itself when no origin is
// allowed. services are the fully-qualified names of the services served,
// whose REST routes' HTTP methods are allowed besides Connect's.
func (c CORS) wrap(h http.Handler, services []string) http.Handler {
	if len(c.Origins) == 0 && c.Allow == nil {
		return h
	}
	var allow func(string) bool
	if c.Allow != nil {
		// rs/cors ignores AllowedOrigins once a function is set.
		allow = func(o string) bool {
			return slices.Contains(c.Origins, AnyOrigin) || slices.Contains(c.Origins, o) || c.Allow(o)
		}
	}
	headers := append(connectcors.AllowedHeaders(), "Authorization")
	headers = append(headers, fileRequestHeaders...)
	return cors.New(cors.Options{
		AllowedOrigins:  c.Origins,
		AllowOriginFunc: allow,
		AllowedMethods:  restMethods(services, connectcors.AllowedMethods()),
		AllowedHeaders:  headers,
		ExposedHeaders:  append(connectcors.ExposedHeaders(), fileResponseHeaders...),
		MaxAge:          corsMaxAge,
		// Calls carry their token in the Authorization header, never in
		// a cookie, so credentialed requests are never needed.
		AllowCredentials: false,
	}).Handler(h)
}

// restMethods adds to methods the HTTP methods of the google.api.http
// annotations of services' methods, as REST routes are served from them.
func restMethods(services []string, methods []string) []string {
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		for i := range sd.Methods().Len() {
			for _, r := range httpRules(sd.Methods().Get(i)) {
				if m, _ := ruleRoute(r); m != "" && !slices.Contains(methods, m) {
					methods = append(methods, m)
				}
			}
		}
	}
	return methods
}
