package directory

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/token"
)

// FileLink is the plain HTTP download link of content sha256 at the peer
// serving at address: address/files/sha256/name?token=tok, the name
// path-escaped (sha256 again when name is empty), so that curl -O, wget and
// browsers save the file under name. The token rides in the query because
// those clients cannot set headers; it must be a download token bound to
// sha256 (token.Claims.SHA256), which the peer's /files route alone accepts.
func FileLink(address, sha256, name, tok string) string {
	if name == "" {
		name = sha256
	}
	return strings.TrimSuffix(address, "/") + "/files/" + sha256 + "/" + url.PathEscape(name) + "?" + url.Values{"token": {tok}}.Encode()
}

// checkContent checks the content binding of a token request: a SHA-256
// only for a download token, and a link name only with a SHA-256, one
// portable segment (sharepath's rules, which the proto states too).
// Errors: ErrInvalidArgument.
func checkContent(r TokenRequest) error {
	switch {
	case r.SHA256 != "" && r.Scope != token.ScopeDownload:
		return fmt.Errorf("only a download token can be bound to a content, not a %s token: %w", r.Scope, ErrInvalidArgument)
	case r.SHA256 != "" && !pieces.IsHex(r.SHA256):
		return fmt.Errorf("sha256 must be 64 lowercase hex digits: %w", ErrInvalidArgument)
	case r.Name != "" && r.SHA256 == "":
		return fmt.Errorf("a file name is only for a link, which needs sha256: %w", ErrInvalidArgument)
	case r.Name != "" && strings.Contains(r.Name, "/"):
		return fmt.Errorf("a link's file name is one segment, without '/': %w", ErrInvalidArgument)
	}
	if r.Name != "" {
		if err := sharepath.Check(r.Name); err != nil {
			return fmt.Errorf("link file name: %v: %w", err, ErrInvalidArgument)
		}
	}
	return nil
}
