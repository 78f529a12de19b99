//go:build unix

package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/internal/private"
	"github.com/peerhub/peerhub/server"
)

// TestFilesAtRest starts a directory under umask 0 on a data folder left
// 0755: the folder becomes 0700 and the database with its -wal and -shm
// files (signing keys, password hashes) is 0600. A database, a -wal file
// or a TLS key made 0644 afterwards stops the next start, with the chmod
// that fixes it in the message. Not parallel: the umask is the process's.
func TestFilesAtRest(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: server.StoreSQLite, Data: data, Listen: "127.0.0.1:0", InsecurePlaintext: true}
	cfg.Directory.PasswordCost = bcrypt.MinCost
	db := filepath.Join(data, server.DatabaseFile)
	perm := func(path string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}

	srv, err := server.New(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Directory().AddUser(t.Context(), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if m := perm(data); m != 0o700 {
		t.Errorf("data folder is %04o, want 0700", m)
	}
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		if m := perm(f); m != 0o600 {
			t.Errorf("%s is %04o, want 0600", filepath.Base(f), m)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	refused := func(what string) {
		t.Helper()
		s, err := server.New(context.Background(), cfg, nil)
		if err == nil {
			s.Close()
			t.Fatalf("%s: the directory started", what)
		}
		if !errors.Is(err, private.ErrExposed) || !strings.Contains(err.Error(), "chmod 600 ") {
			t.Errorf("%s: %v, want the chmod that fixes it", what, err)
		}
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	refused("a 0644 database")
	if err := os.Chmod(db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refused("a 0644 -wal file")
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(key, []byte("not even a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	withTLS := cfg
	withTLS.TLSCert, withTLS.TLSKey, withTLS.InsecurePlaintext = key, key, false
	cfg = withTLS
	refused("a 0644 TLS key")
}
