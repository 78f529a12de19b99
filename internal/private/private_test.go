//go:build unix

package private_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/peerhub/peerhub/internal/private"
)

// withUmask runs fn under umask mask. The umask is the process's, so the
// tests that change it do not run in parallel with anything.
func withUmask(t *testing.T, mask int, fn func()) {
	t.Helper()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	fn()
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestDirUnderUmaskZero(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	withUmask(t, 0, func() {
		if err := private.Dir(dir); err != nil {
			t.Fatal(err)
		}
	})
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("new folder under umask 0 is %04o, want 0700", m)
	}
}

func TestDirTightensAnOpenFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := private.Dir(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("pre-existing 0755 folder is %04o after Dir, want 0700", m)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := private.Dir(file); err == nil {
		t.Error("Dir accepted a file")
	}
}

func TestCreateFileUnderUmaskZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	withUmask(t, 0, func() {
		if err := private.CreateFile(path); err != nil {
			t.Fatal(err)
		}
	})
	if m := mode(t, path); m != 0o600 {
		t.Errorf("new file under umask 0 is %04o, want 0600", m)
	}
	// An existing file is left as it is.
	if err := os.WriteFile(path, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := private.CreateFile(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "kept" {
		t.Errorf("CreateFile changed an existing file: %q", b)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	open := filepath.Join(dir, "open key")
	group := filepath.Join(dir, "group")
	for path, m := range map[string]os.FileMode{ok: 0o600, open: 0o644, group: 0o640} {
		if err := os.WriteFile(path, nil, m); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := private.Check("key", ok, filepath.Join(dir, "missing")); err != nil {
		t.Errorf("Check of a 0600 and a missing file: %v", err)
	}
	err := private.Check("the key", ok, open, group)
	if !errors.Is(err, private.ErrExposed) {
		t.Fatalf("Check of 0644 and 0640 files = %v, want ErrExposed", err)
	}
	want := "run chmod 600 '" + open + "' " + group + " and start again"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "0644") || !strings.HasPrefix(err.Error(), "the key: ") {
		t.Errorf("message %q lacks %q", err, want)
	}
}
