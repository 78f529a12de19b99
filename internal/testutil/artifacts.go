package testutil

import (
	"os"
	"testing"
)

// ArtifactsEnv names the folder where tests write files for people to look
// at after the run, such as the dashboard's screenshots.
const ArtifactsEnv = "PEERHUB_TEST_ARTIFACTS"

// Artifacts returns the folder for a test's artifacts: $PEERHUB_TEST_ARTIFACTS
// (created if missing) when set, so CI can keep it, else a t.TempDir() that
// goes away with the test.
func Artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", ArtifactsEnv, err)
	}
	return dir
}
