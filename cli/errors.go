package cli

import (
	"errors"
	"strings"

	"connectrpc.com/connect"
)

// Message turns an error into one line a person can act on. It is the one
// place where Connect codes become words.
func Message(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	detail := ce.Message()
	hint := ""
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		hint = "not logged in: check --user and the password (PEERHUB_PASSWORD or --password-file)"
	case connect.CodePermissionDenied:
		hint = "not allowed"
	case connect.CodeNotFound:
		hint = "not found"
	case connect.CodeAlreadyExists:
		hint = "already exists"
	case connect.CodeInvalidArgument:
		hint = "invalid input"
	case connect.CodeResourceExhausted:
		hint = "limit reached, try again later or with less"
	case connect.CodeUnavailable:
		hint = "cannot reach the server: is it running, and is the URL right?"
	case connect.CodeDeadlineExceeded:
		hint = "timed out"
	case connect.CodeFailedPrecondition:
		hint = "not possible in this state"
	case connect.CodeDataLoss:
		hint = "data did not verify"
	case connect.CodeUnimplemented:
		hint = "not supported by this server"
	default:
		hint = ce.Code().String()
	}
	if detail == "" {
		return hint
	}
	// Avoid "not found: ... not found" stutter.
	if strings.Contains(detail, hint) {
		return detail
	}
	return hint + ": " + detail
}

// isCobraUsage recognises cobra's own argument errors, which it returns as
// plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
