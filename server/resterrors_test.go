package server_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// curlError is an error answer as curl got it.
type curlError struct {
	status int
	header string
	body   struct {
		Code    any    `json:"code"` // a string in Connect's format; a number would be google.rpc.Status
		Message string `json:"message"`
		Details []struct {
			Type string `json:"type"`
		} `json:"details"`
	}
	raw string
}

// curlFail runs curl with args against url and returns the (error) answer.
func curlFail(t *testing.T, curl string, args ...string) curlError {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), curl, append([]string{"-sS", "--max-time", "30", "-D", "/dev/stderr"}, args...)...)
	var hdr strings.Builder
	cmd.Stderr = &hdr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, hdr.String())
	}
	var r curlError
	r.header, r.raw = hdr.String(), string(out)
	if f := strings.Fields(r.header); len(f) > 1 {
		r.status, _ = strconv.Atoi(f[1])
	}
	if err := json.Unmarshal(out, &r.body); err != nil {
		t.Fatalf("curl %s: body is not JSON: %v\n%s%s", strings.Join(args, " "), err, r.header, out)
	}
	return r
}

// TestRESTErrorsWithCurl checks, with curl against a running directory,
// that REST errors read like Connect's: the same code strings and
// messages, unknown query parameters a 400 that names them, and a 415 that
// says what is accepted.
func TestRESTErrorsWithCurl(t *testing.T) {
	t.Parallel()
	curl := tool(t, "curl")
	e := start(t)
	tok := e.login(bob, bobPW, "", "").GetToken()
	auth := []string{"-H", "Authorization: Bearer " + tok}
	connectPOST := func(method, body string) []string {
		return slices.Concat(auth, []string{"-X", "POST", "-H", "Content-Type: application/json", "-d", body, e.url + "/peerhub.directory.v1.DirectoryService/" + method})
	}

	tests := []struct {
		name    string
		args    []string
		status  int
		code    string
		message []string // substrings
		detail  string   // a detail's type, if any
	}{
		{name: "unknown query parameter", args: append(slices.Clone(auth), e.url+"/v1/files?limit=2"), status: 400, code: "invalid_argument",
			message: []string{`unknown query parameter "limit"`, "page_size"}},
		{name: "unknown parameter among known ones", args: append(slices.Clone(auth), e.url+"/v1/search?query=song&pageSize=2&colour=red"), status: 400, code: "invalid_argument",
			message: []string{`"colour"`}},
		{name: "parameter path into a string", args: append(slices.Clone(auth), e.url+"/v1/search?query.x=song"), status: 400, code: "invalid_argument",
			message: []string{`"query.x"`}},
		{name: "bad parameter value", args: append(slices.Clone(auth), e.url+"/v1/files?page_size=many"), status: 400, code: "invalid_argument",
			message: []string{"page_size"}},
		{name: "REST validation error", args: append(slices.Clone(auth), e.url+"/v1/search?sha256=zz"), status: 400, code: "invalid_argument",
			message: []string{"sha256"}, detail: "buf.validate.Violations"},
		{name: "Connect validation error", args: connectPOST("Search", `{"sha256":"zz"}`), status: 400, code: "invalid_argument",
			message: []string{"sha256"}, detail: "buf.validate.Violations"},
		{name: "REST unauthenticated", args: []string{e.url + "/v1/peers"}, status: 401, code: "unauthenticated", message: []string{"log in first"}},
		{name: "Connect unauthenticated", args: []string{"-X", "POST", "-H", "Content-Type: application/json", "-d", "{}", e.url + "/peerhub.directory.v1.DirectoryService/ListPeers"},
			status: 401, code: "unauthenticated", message: []string{"log in first"}},
		{name: "REST POST of a form", args: []string{"-X", "POST", "-d", "{}", e.url + "/v1/login"}, status: 415, code: "invalid_argument",
			message: []string{`Content-Type "application/x-www-form-urlencoded" is not accepted`, "application/json"}},
		{name: "Connect POST without Content-Type", args: []string{"-X", "POST", "-H", "Content-Type:", "-d", "{}", e.url + "/peerhub.directory.v1.DirectoryService/Login"},
			status: 415, code: "invalid_argument", message: []string{"no Content-Type", "application/json", "application/proto", "application/grpc"}},
		{name: "Connect POST of text", args: []string{"-X", "POST", "-H", "Content-Type: text/plain", "-d", "{}", e.url + "/peerhub.directory.v1.DirectoryService/Login"},
			status: 415, code: "invalid_argument", message: []string{`Content-Type "text/plain" is not accepted`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := curlFail(t, curl, tt.args...)
			if r.status != tt.status || r.body.Code != tt.code {
				t.Fatalf("HTTP %d code %v, want %d %q\n%s%s", r.status, r.body.Code, tt.status, tt.code, r.header, r.raw)
			}
			for _, s := range tt.message {
				if !strings.Contains(r.body.Message, s) {
					t.Errorf("message %q lacks %q", r.body.Message, s)
				}
			}
			if tt.detail != "" && (len(r.body.Details) == 0 || r.body.Details[0].Type != tt.detail) {
				t.Errorf("details %+v, want a %s", r.body.Details, tt.detail)
			}
			if !strings.Contains(strings.ToLower(r.header), "content-type: application/json") {
				t.Errorf("not labelled JSON:\n%s", r.header)
			}
		})
	}

	// The same error reads the same through both: REST and Connect
	// bodies differ in nothing but what the transport adds.
	rest := curlFail(t, curl, append(slices.Clone(auth), e.url+"/v1/search?sha256=zz")...)
	conn := curlFail(t, curl, connectPOST("Search", `{"sha256":"zz"}`)...)
	if rest.raw != conn.raw {
		t.Errorf("REST and Connect bodies differ:\nREST:    %s\nConnect: %s", rest.raw, conn.raw)
	}

	// A REST success is untouched.
	ok := run(t, curl, append(slices.Concat([]string{"-sS", "--fail-with-body"}, auth), e.url+"/v1/search?query=song&pageSize=2")...)
	if strings.Contains(ok, `"code"`) {
		t.Errorf("search answered %s", ok)
	}
}
