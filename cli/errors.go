package cli

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/internal/humansize"
)

// Message turns an error into one line a person can act on. It is the one
// place where Connect codes become words: each code gets a hint that fits
// every error of that code, and advice only where the code implies it (a
// size limit is not cured by waiting, so ResourceExhausted gives none; the
// server's own message says what to do). Byte counts in the server's
// message are shown with binary units.
func Message(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return humanizeBytes(err.Error())
	}
	detail := humanizeBytes(ce.Message())
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
		hint = "limit reached"
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
	case connect.CodeCanceled:
		hint = "interrupted"
		if detail == context.Canceled.Error() {
			detail = ""
		}
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

// byteCount is a number of bytes written out in a message: "5242880 bytes".
var byteCount = regexp.MustCompile(`\b(\d{4,}) bytes\b`)

// humanizeBytes rewrites byte counts of 1 KiB or more in msg with binary
// units ("5242880 bytes" becomes "5.0 MiB"); smaller ones read well as
// they are.
func humanizeBytes(msg string) string {
	return byteCount.ReplaceAllStringFunc(msg, func(m string) string {
		n, err := strconv.ParseInt(byteCount.FindStringSubmatch(m)[1], 10, 64)
		if err != nil || n < 1024 {
			return m
		}
		return humansize.Format(n)
	})
}
