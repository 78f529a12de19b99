package rpcserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// RESTErrors wraps the REST transcoder (vanguard) of the named services so
// that a REST caller meets the same errors as a Connect caller:
//
//   - A query parameter that names no field of the method's request is a
//     400 invalid_argument naming the parameter and the fields there are
//     (vanguard itself calls it an internal error).
//   - Every error body is Connect's JSON error, {"code": "invalid_argument",
//     "message": …, "details": […]}, where vanguard writes a
//     google.rpc.Status with a numeric code.
//
// Routes come from the methods' google.api.http rules; only rules without
// path variables are checked for unknown parameters (the API has no
// others). It fails if a service is not in the global registry.
func RESTErrors(next http.Handler, services ...string) (http.Handler, error) {
	routes := map[string]protoreflect.MessageDescriptor{}
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("REST errors: service %s: %w", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("REST errors: %s is not a service", name)
		}
		for i := range sd.Methods().Len() {
			m := sd.Methods().Get(i)
			for _, r := range httpRules(m) {
				if method, path := ruleRoute(r); path != "" && !strings.Contains(path, "{") {
					routes[method+" "+path] = m.Input()
				}
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in := routes[r.Method+" "+r.URL.Path]; in != nil && r.URL.RawQuery != "" {
			if err := checkQuery(in, r); err != nil {
				writeConnectError(w, err)
				return
			}
		}
		bw := &errorBodyWriter{ResponseWriter: w}
		next.ServeHTTP(bw, r)
		bw.finish()
	}), nil
}

// checkQuery checks that every query parameter of r is a field path of the
// request message in: field names (proto or JSON) separated by dots, every
// one but the last a singular message field. It resolves paths as vanguard
// does.
func checkQuery(in protoreflect.MessageDescriptor, r *http.Request) error {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first unknown one named is the same every time
	for _, key := range keys {
		msg := in
		parts := strings.Split(key, ".")
		for i, part := range parts {
			f := msg.Fields().ByJSONName(part)
			if f == nil {
				f = msg.Fields().ByName(protoreflect.Name(part))
			}
			if f == nil {
				return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unknown query parameter %q: %s has no field %q (its fields: %s)",
					key, msg.Name(), part, fieldNames(msg)))
			}
			if i < len(parts)-1 && (f.Message() == nil || f.Cardinality() == protoreflect.Repeated) {
				return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("query parameter %q: %s.%s is not a message", key, msg.Name(), f.Name()))
			}
			msg = f.Message()
		}
	}
	return nil
}

// fieldNames lists the fields of m by their proto names.
func fieldNames(m protoreflect.MessageDescriptor) string {
	names := make([]string, m.Fields().Len())
	for i := range names {
		names[i] = string(m.Fields().Get(i).Name())
	}
	return strings.Join(names, ", ")
}

// writeConnectError writes err as a Connect unary error: the HTTP status of
// its code and the JSON body Connect clients read.
func writeConnectError(w http.ResponseWriter, err error) {
	// A bare POST is a request of unknown protocol to the ErrorWriter, which
	// then writes Connect's unary JSON error, whatever the caller sent.
	_ = connect.NewErrorWriter().Write(w, &http.Request{Method: http.MethodPost, Header: http.Header{}}, err)
}

// maxErrorBody is the most bytes of an error body errorBodyWriter holds
// back to rewrite; a longer one passes through as it is.
const maxErrorBody = 64 << 10

// errorBodyWriter holds back an error response of the transcoder to
// rewrite it as Connect's JSON error if it is a google.rpc.Status in JSON.
// Every other response, streams included, passes straight through.
type errorBodyWriter struct {
	http.ResponseWriter
	status  int  // the held-back status, 0 if none
	passing bool // the header went through unchanged
	body    bytes.Buffer
}

// WriteHeader implements http.ResponseWriter.
func (w *errorBodyWriter) WriteHeader(code int) {
	if w.status != 0 || w.passing {
		return
	}
	// Not by Content-Type: vanguard labels some of its errors
	// "application/" (no codec yet). finish checks that the body is a
	// status.
	if code >= 400 {
		w.status = code
		return
	}
	w.passing = true
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *errorBodyWriter) Write(p []byte) (int, error) {
	if w.status == 0 && !w.passing {
		w.WriteHeader(http.StatusOK)
	}
	if w.passing {
		return w.ResponseWriter.Write(p)
	}
	if w.body.Len()+len(p) > maxErrorBody {
		w.release()
		return w.ResponseWriter.Write(p)
	}
	return w.body.Write(p)
}

// Flush implements http.Flusher; a held-back error is not flushed.
func (w *errorBodyWriter) Flush() {
	if w.passing {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *errorBodyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// release sends the held-back status and body unchanged.
func (w *errorBodyWriter) release() {
	w.passing = true
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(w.body.Bytes())
	w.body.Reset()
}

// finish rewrites a held-back error, once the transcoder is done.
func (w *errorBodyWriter) finish() {
	if w.status == 0 || w.passing {
		return
	}
	var st status.Status
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(w.body.Bytes(), &st); err != nil {
		w.release() // not a status: leave it as it is
		return
	}
	ce := connect.NewWireError(connect.Code(st.GetCode()), errors.New(st.GetMessage()))
	for _, d := range st.GetDetails() {
		if detail, err := connect.NewErrorDetail(d); err == nil {
			ce.AddDetail(detail)
		}
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length"} {
		h.Del(k)
	}
	w.passing = true
	writeConnectError(w.ResponseWriter, ce)
}
