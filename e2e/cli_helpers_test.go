package e2e_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
)

// runCLI runs a peerhub command in-process as user (password
// testnet.Password) against directory, a directory's or a peer's URL.
func runCLI(t *testing.T, directory, user string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{"PEERHUB_DIRECTORY": directory, "PEERHUB_USER": user, "PEERHUB_PASSWORD": testnet.Password}
	var out, errb bytes.Buffer
	code = cli.Run(t.Context(), args, cli.Streams{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	return code, out.String(), errb.String()
}

// mustRunCLI runs a peerhub command as alice against directory and fails
// the test unless it exits 0; it returns the standard output.
func mustRunCLI(t *testing.T, directory string, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, directory, "alice", args...)
	if code != 0 {
		t.Fatalf("peerhub %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}
