package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot walks up from the working directory to the folder with go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Grpcurl runs the grpcurl pinned in tools/go.mod with args and returns its
// standard output; it fails the test when grpcurl fails.
func Grpcurl(t testing.TB, args ...string) []byte {
	t.Helper()
	root := RepoRoot(t)
	full := append([]string{"tool", "-modfile=" + filepath.Join(root, "tools", "go.mod"), "grpcurl"}, args...)
	cmd := exec.Command("go", full...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}
