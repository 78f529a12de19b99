package transfer_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerhub/peerhub/peer/transfer"
)

// TestNewSweepsStaleUploads: a starting peer removes the temporary upload
// files an earlier run left behind once they are older than
// StaleUploadAge, and nothing else.
func TestNewSweepsStaleUploads(t *testing.T) {
	t.Parallel()
	s := newShare(t, map[string][]byte{"a.txt": []byte("a")})
	in := filepath.Join(s.dir, filepath.FromSlash(transfer.IncomingDir))
	if err := os.MkdirAll(in, 0o700); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "kept.bin")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-transfer.StaleUploadAge - time.Minute)
	put := func(name string, mtime time.Time) {
		p := filepath.Join(in, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	stale := "ABCDEFGHIJKLMNOPQRSTUVWXYZ.upload"
	put(stale, old)
	put("ZYXWVUTSRQPONMLKJIHGFEDCBA.upload", time.Now()) // fresh
	put("notes.upload", old)                             // not a name receive writes
	put("abcdefghijklmnopqrstuvwxyz.upload", old)
	put("ABCDEFGHIJKLMNOPQRSTUVWXY2.upload.bak", old)
	link := "ABCDEFGHIJKLMNOPQRSTUVWXY7.upload"
	if err := os.Symlink(outside, filepath.Join(in, link)); err != nil {
		t.Fatal(err)
	}
	// The link's target is old: a sweep that followed it would judge the
	// link by it.
	if err := os.Chtimes(outside, old, old); err != nil {
		t.Fatal(err)
	}
	// A user's file of the same shape outside IncomingDir is theirs.
	user := filepath.Join(s.dir, stale)
	if err := os.WriteFile(user, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(user, old, old); err != nil {
		t.Fatal(err)
	}

	s.service(t, transfer.Options{})

	if _, err := os.Lstat(filepath.Join(in, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary upload: %v, want it removed", err)
	}
	for _, n := range []string{"ZYXWVUTSRQPONMLKJIHGFEDCBA.upload", "notes.upload", "abcdefghijklmnopqrstuvwxyz.upload", "ABCDEFGHIJKLMNOPQRSTUVWXY2.upload.bak", link} {
		if _, err := os.Lstat(filepath.Join(in, n)); err != nil {
			t.Errorf("%s: want it kept: %v", n, err)
		}
	}
	for _, p := range []string{user, outside} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: want it kept: %v", p, err)
		}
	}
}

// TestNewIgnoresLinkedIncoming: an IncomingDir that is a symbolic link is
// not the peer's own; nothing behind it is removed.
func TestNewIgnoresLinkedIncoming(t *testing.T) {
	t.Parallel()
	s := newShare(t, map[string][]byte{"a.txt": []byte("a")})
	elsewhere := filepath.Join(s.dir, "mine")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(elsewhere, "ABCDEFGHIJKLMNOPQRSTUVWXYZ.upload")
	if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * transfer.StaleUploadAge)
	if err := os.Chtimes(name, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, ".peerhub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(s.dir, filepath.FromSlash(transfer.IncomingDir))); err != nil {
		t.Fatal(err)
	}
	s.service(t, transfer.Options{})
	if _, err := os.Lstat(name); err != nil {
		t.Errorf("a file behind a linked %s: %v, want it kept", transfer.IncomingDir, err)
	}
}
