package rpcserver

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// restRoute is one REST route of a service: an http.ServeMux pattern
// ("POST /v1/login") and the procedure it calls.
type restRoute struct {
	pattern   string
	procedure string
	// method is the route's method, httpMethod its HTTP method, hasVars
	// whether its path has variables.
	method     protoreflect.MethodDescriptor
	httpMethod string
	hasVars    bool
}

// restRoutes returns the REST routes of sd's google.api.http annotations,
// as vanguard serves them. A path template that a ServeMux pattern cannot
// say (a custom verb, a variable inside a segment) is an error: a build
// defect, which every test that mounts the service shows.
func restRoutes(sd protoreflect.ServiceDescriptor) ([]restRoute, error) {
	var routes []restRoute
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		procedure := "/" + string(sd.FullName()) + "/" + string(m.Name())
		for _, r := range httpRules(m) {
			method, template := ruleRoute(r)
			if method == "" || template == "" {
				continue
			}
			path, err := muxPath(template)
			if err != nil {
				return nil, fmt.Errorf("REST route %s %s of %s: %w", method, template, procedure, err)
			}
			routes = append(routes, restRoute{pattern: method + " " + path, procedure: procedure,
				method: m, httpMethod: method, hasVars: strings.Contains(template, "{") || strings.Contains(template, "*")})
		}
	}
	return routes, nil
}

// muxPath turns a google.api.http path template into the path of a
// ServeMux pattern: literal segments stay, "*" and a variable of one
// segment become a wildcard, "**" (last) a wildcard of the rest.
func muxPath(template string) (string, error) {
	if !strings.HasPrefix(template, "/") {
		return "", fmt.Errorf("template must start with /")
	}
	var segs []string
	for rest := template[1:]; rest != ""; {
		var seg string
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed variable")
			}
			seg, rest = rest[:end+1], rest[end+1:]
			if rest != "" && !strings.HasPrefix(rest, "/") {
				return "", fmt.Errorf("variable inside a segment or custom verb")
			}
		} else {
			seg, rest, _ = strings.Cut(rest, "/")
			rest = "/" + rest
		}
		rest = strings.TrimPrefix(rest, "/")
		expanded, err := muxSegments(seg)
		if err != nil {
			return "", err
		}
		segs = append(segs, expanded...)
	}
	for i, s := range segs {
		// A pattern's wildcards need distinct names; they are never read.
		switch {
		case s == "{_...}" && i != len(segs)-1:
			return "", fmt.Errorf("** must be last")
		case s == "{_...}":
			segs[i] = fmt.Sprintf("{w%d...}", i)
		case s == "{_}":
			segs[i] = fmt.Sprintf("{w%d}", i)
		}
	}
	return "/" + strings.Join(segs, "/"), nil
}

// muxSegments expands one template segment: a literal, "*", "**", or a
// variable "{field}" / "{field=segments}".
func muxSegments(seg string) ([]string, error) {
	if inner, ok := strings.CutPrefix(seg, "{"); ok {
		inner = strings.TrimSuffix(inner, "}")
		_, sub, hasSub := strings.Cut(inner, "=")
		if !hasSub {
			sub = "*"
		}
		var out []string
		for _, s := range strings.Split(sub, "/") {
			if strings.ContainsAny(s, "{}") {
				return nil, fmt.Errorf("nested variable")
			}
			e, err := muxSegments(s)
			if err != nil {
				return nil, err
			}
			out = append(out, e...)
		}
		return out, nil
	}
	switch {
	case seg == "*":
		return []string{"{_}"}, nil
	case seg == "**":
		return []string{"{_...}"}, nil
	case seg == "" || strings.ContainsAny(seg, "{}:*"):
		return nil, fmt.Errorf("segment %q: want a literal, *, ** or a variable", seg)
	default:
		return []string{seg}, nil
	}
}
