package rpcserver

import (
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// directGet serves a REST GET route without path variables, whose query
// parameters name top-level scalar fields of the request, as a Connect GET
// call of the service's gate (Connect's own GET for methods without side
// effects: the request message in the query, the response in the body).
// The response is the same as vanguard's: vanguard, too, calls the
// Connect handler with a Connect GET in JSON and passes its body on
// unchanged. Building that call here skips vanguard's transcoding, which
// cost a REST call about half of what a Search costs in the store (CPU
// profile of bench/directory.sh, docs/BENCHMARKS.md). Every other
// request (a nested, repeated, enum, float or bytes field, a parameter
// given twice, a value that does not parse, an unknown parameter, a
// refused token) goes to vanguard as before, so its errors stay the ones
// REST callers have always met.
type directGet struct {
	procedure string
	typ       protoreflect.MessageType
}

// newDirectGet returns the directGet of a route, nil when the route cannot
// be served so: not a GET, a path with variables, a method with side
// effects (Connect serves GET only without them), or a request type not
// in the global registry.
func newDirectGet(r restRoute) *directGet {
	if r.method == nil || r.httpMethod != http.MethodGet || r.hasVars || r.method.IsStreamingClient() || r.method.IsStreamingServer() {
		return nil
	}
	if opts, ok := r.method.Options().(*descriptorpb.MethodOptions); !ok || opts.GetIdempotencyLevel() != descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
		return nil
	}
	typ, err := protoregistry.GlobalTypes.FindMessageByName(r.method.Input().FullName())
	if err != nil {
		return nil
	}
	return &directGet{procedure: r.procedure, typ: typ}
}

// connectQuery returns the raw query of the Connect GET call that carries
// q's request message, false when q is not for directGet.
func (d *directGet) connectQuery(q url.Values) (string, bool) {
	msg := d.typ.New()
	fields := msg.Descriptor().Fields()
	for key, vals := range q {
		f := fields.ByJSONName(key)
		if f == nil {
			f = fields.ByName(protoreflect.Name(key))
		}
		if f == nil || len(vals) != 1 || f.Cardinality() == protoreflect.Repeated {
			return "", false
		}
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			return "", false
		}
		v, ok := scalarValue(f.Kind(), vals[0])
		if !ok {
			return "", false
		}
		msg.Set(f, v)
	}
	b, err := protojson.Marshal(msg.Interface())
	if err != nil {
		return "", false
	}
	return "encoding=json&message=" + url.QueryEscape(string(b)), true
}

// scalarValue parses s as a value of kind, as vanguard does for strings,
// booleans and integers; false for other kinds.
func scalarValue(kind protoreflect.Kind, s string) (protoreflect.Value, bool) {
	switch kind {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), true
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		return protoreflect.ValueOfBool(b), err == nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		return protoreflect.ValueOfInt64(n), err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		return protoreflect.ValueOfUint64(n), err == nil
	}
	return protoreflect.Value{}, false
}

// serve serves r (admitted by the route's gate, its verdict in r's
// context) as a Connect GET of the gate g, and reports whether it did.
func (d *directGet) serve(g *gate, w http.ResponseWriter, r *http.Request) bool {
	raw, ok := d.connectQuery(r.URL.Query())
	if !ok {
		return false
	}
	u := *r.URL
	u.Path, u.RawPath, u.RawQuery = d.procedure, "", raw
	r2 := *r
	r2.URL = &u
	g.ServeHTTP(w, &r2)
	return true
}
