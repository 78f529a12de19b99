package rpcserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
)

// explainMediaType gives every 415 Unsupported Media Type response of next
// a body that says what was wrong and what is accepted: Connect handlers
// answer an unknown or missing Content-Type with an empty 415 (and the
// accepted types in Accept-Post, which few people read), vanguard with a
// line of plain text. The body is Connect's JSON error, code
// invalid_argument, with the status kept at 415.
func explainMediaType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read now: vanguard deletes the request's Content-Type.
		mw := &mediaTypeWriter{ResponseWriter: w, contentType: r.Header.Get("Content-Type")}
		next.ServeHTTP(mw, r)
		mw.finish()
	})
}

// mediaTypeWriter passes a response through unless its status is 415; then
// it holds back the body to replace it.
type mediaTypeWriter struct {
	http.ResponseWriter
	contentType string // the request's
	wroteHeader bool
	unsupported bool
	reason      strings.Builder // what the handler wrote, up to a line
}

// WriteHeader implements http.ResponseWriter.
func (w *mediaTypeWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if code == http.StatusUnsupportedMediaType {
		w.unsupported = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *mediaTypeWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.unsupported {
		if w.reason.Len() < 512 {
			w.reason.Write(p[:min(len(p), 512)])
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher.
func (w *mediaTypeWriter) Flush() {
	if !w.unsupported {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *mediaTypeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes the explanation of a 415.
func (w *mediaTypeWriter) finish() {
	if !w.unsupported {
		return
	}
	accepted := []string{"application/json"} // REST
	if v := w.Header().Values("Accept-Post"); len(v) > 0 {
		accepted = nil
		for _, s := range v {
			for t := range strings.SplitSeq(s, ",") {
				accepted = append(accepted, strings.TrimSpace(t))
			}
		}
	}
	ct := w.contentType
	var msg string
	switch {
	case ct == "":
		msg = fmt.Sprintf("no Content-Type: send the request body with Content-Type one of %s", strings.Join(accepted, ", "))
	case !slices.Contains(accepted, ct):
		msg = fmt.Sprintf("Content-Type %q is not accepted here: send one of %s", ct, strings.Join(accepted, ", "))
	default:
		msg = "unsupported media type"
		if reason := strings.TrimSpace(w.reason.String()); reason != "" {
			msg += ": " + reason
		}
	}
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{connect.CodeInvalidArgument.String(), msg})
	h := w.Header()
	h.Del("Content-Length")
	h.Del("X-Content-Type-Options")
	h.Set("Content-Type", "application/json")
	w.ResponseWriter.WriteHeader(http.StatusUnsupportedMediaType)
	_, _ = w.ResponseWriter.Write(body)
}
