// Package httpfiles owns a peer's plain HTTP downloads: GET (and HEAD)
// /files/{sha256} and /files/{sha256}/{name}, served with http.ServeContent
// (Range, If-Range, ETag, Content-Disposition), so that curl -O, wget -c and
// browsers download and resume a shared file with no client of peerhub's.
//
// A request is authorised by the download link's token, in the query
// (?token=) because such clients cannot set headers: a download token the
// peer's directory issued for this peer and bound to this very content
// (token.Claims.SHA256). The content is read through the transfer service,
// so the download takes one of the peer's transfer slots, counts against
// its caller's account and address caps, and shares the peer's rate limit.
// The query is never logged.
package httpfiles

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/peerhub/peerhub/internal/clientaddr"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/token"
	"github.com/peerhub/peerhub/peer/transfer"
)

// Routes are the patterns Mount serves; GET patterns answer HEAD too.
const (
	RouteBySHA256 = "GET /files/{sha256}"
	RouteWithName = "GET /files/{sha256}/{name}"
)

// retryAfter is what a busy peer asks a client to wait, in seconds.
const retryAfter = "5"

// ErrNotReady means the peer cannot check tokens yet (it has not logged in
// at its directory); the request gets 503.
var ErrNotReady = errors.New("this peer has not logged in at its directory yet, so it accepts no token; try again shortly")

// Authorizer checks the token of a download of content sha256 and returns
// its claims. Any error but ErrNotReady means 401; its message is shown to
// the caller, so it must say why without quoting the token.
type Authorizer func(ctx context.Context, sha256, raw string) (token.Claims, error)

// Handler serves /files over a transfer.Service.
type Handler struct {
	svc  *transfer.Service
	auth Authorizer
	log  *slog.Logger
}

// Mount serves the /files routes on mux; log receives internal errors
// (discarded if nil).
func Mount(mux *http.ServeMux, svc *transfer.Service, auth Authorizer, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, auth: auth, log: log}
	mux.Handle(RouteBySHA256, h)
	mux.Handle(RouteWithName, h)
}

// ServeHTTP serves one download: token, then name, then a transfer slot,
// then the bytes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sha, name := r.PathValue("sha256"), r.PathValue("name")
	if !pieces.IsHex(sha) {
		http.Error(w, "not found: a link is /files/<sha256, 64 lowercase hex digits>[/<name>]?token=<token>", http.StatusNotFound)
		return
	}
	raw := r.URL.Query().Get("token")
	if raw == "" {
		http.Error(w, "unauthorized: no token; ask the directory for a download link (IssueToken with sha256)", http.StatusUnauthorized)
		return
	}
	claims, err := h.auth(r.Context(), sha, raw)
	switch {
	case errors.Is(err, ErrNotReady):
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if name != "" {
		if err := sharepath.Check(name); err != nil {
			http.Error(w, "bad request: the file name after the sha256 is not a portable name", http.StatusBadRequest)
			return
		}
	}
	ctx := transfer.WithCaller(r.Context(), transfer.Caller{Account: claims.Subject, Address: clientaddr.Of(r.RemoteAddr)})
	c, err := h.svc.Open(ctx, sha)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer c.Close()
	if name == "" {
		name = c.Name
	}
	hd := w.Header()
	hd.Set("ETag", `"`+sha+`"`)
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Disposition", Disposition(name))
	// The link holds a token: no shared cache may keep the response
	// under it.
	hd.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", c.Modified, c)
}

// fail answers an error of transfer.Service.Open: the one mapping of its
// errors to HTTP statuses.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, transfer.ErrBusy):
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, "too many requests: "+err.Error(), http.StatusTooManyRequests)
	case errors.Is(err, transfer.ErrNotFound), errors.Is(err, transfer.ErrChanged):
		http.Error(w, "not found: this peer does not share that content (now)", http.StatusNotFound)
	case errors.Is(err, transfer.ErrInvalid):
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "request ended while waiting for a transfer slot", http.StatusServiceUnavailable)
	default:
		http.Error(w, rpcserver.LogInternal(r.Context(), h.log, "/files", err).Error(), http.StatusInternalServerError)
	}
}

// Disposition is the Content-Disposition of a download saved as name:
// attachment, with filename for ASCII names and filename* (RFC 5987, UTF-8)
// for the others, which mime.FormatMediaType chooses.
func Disposition(name string) string {
	// Only the last segment names a saved file.
	name = name[strings.LastIndex(name, "/")+1:]
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
