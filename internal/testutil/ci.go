package testutil

import (
	"os"
	"testing"
)

// CI reports whether the tests run in CI (CI=true), where nothing may skip
// for a missing tool or service.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing reports a tool or service the test needs and cannot find: the
// test is skipped on a developer's machine and fails under CI=true, where
// .ci/run must have provided it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true and "+format, args...)
	}
	t.Skipf(format, args...)
}
