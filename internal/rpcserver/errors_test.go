package rpcserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"
)

func TestConnectError(t *testing.T) {
	errDomain := errors.New("no such thing")
	codes := []ErrorCode{{Err: errDomain, Code: connect.CodeNotFound}}
	own := connect.NewError(connect.CodeAborted, errors.New("stream cut"))
	tests := []struct {
		name    string
		err     error
		code    connect.Code
		message string // "" for a generic internal error
	}{
		{"sentinel keeps its message", fmt.Errorf("file x: %w", errDomain), connect.CodeNotFound, "file x: no such thing"},
		{"connect error kept", fmt.Errorf("upload: %w", own), connect.CodeAborted, "stream cut"},
		{"cancelled", fmt.Errorf("wait: %w", context.Canceled), connect.CodeCanceled, "wait: context canceled"},
		{"deadline", context.DeadlineExceeded, connect.CodeDeadlineExceeded, "context deadline exceeded"},
		{"internal", errors.New("open /srv/share/secret: input/output error"), connect.CodeInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			err := ConnectError(t.Context(), log, "/p.S/M", codes, tt.err)
			ce, ok := errors.AsType[*connect.Error](err)
			if !ok || ce.Code() != tt.code {
				t.Fatalf("ConnectError = %v, want code %v", err, tt.code)
			}
			if tt.message != "" {
				if ce.Message() != tt.message || logs.Len() != 0 {
					t.Errorf("message %q, logged %q; want %q, nothing logged", ce.Message(), logs.String(), tt.message)
				}
				return
			}
			if strings.Contains(ce.Message(), "/srv/share") || strings.Contains(ce.Message(), "input/output") {
				t.Errorf("the caller learns the cause: %q", ce.Message())
			}
			_, id, _ := strings.Cut(ce.Message(), "request_id ")
			if len(id) != 16 {
				t.Fatalf("message %q names no request id", ce.Message())
			}
			if got := strings.Count(logs.String(), "\n"); got != 1 ||
				!strings.Contains(logs.String(), "request_id="+id) || !strings.Contains(logs.String(), "/srv/share/secret") {
				t.Errorf("log %q: want one line with the cause and request_id=%s", logs.String(), id)
			}
			if !logged(err) {
				t.Error("the interceptor would log the error again")
			}
		})
	}
	if ConnectError(t.Context(), slog.New(slog.DiscardHandler), "/p.S/M", codes, nil) != nil {
		t.Error("ConnectError(nil) != nil")
	}
}
