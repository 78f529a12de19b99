// Package private owns the rule for files that hold secrets at rest (the
// directory's database, with its token signing key and password hashes; a
// TLS key): readable by their owner only, whatever the umask or the state a
// folder was left in. Folders are made private (0700); secret files are
// created 0600, and an existing one that other users may read is refused
// with the command that fixes it, since whoever could read it may already
// have copied the secret.
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Modes of what this package creates.
const (
	// DirMode is a private folder's mode.
	DirMode fs.FileMode = 0o700
	// FileMode is a secret file's mode.
	FileMode fs.FileMode = 0o600
	// othersBits are the permission bits of the group and other users.
	othersBits fs.FileMode = 0o077
)

// ErrExposed is wrapped by the errors of secret files that other users may
// read.
var ErrExposed = errors.New("readable by other users")

// Dir creates the folder path (and its parents) if missing, and makes it
// 0700 if the group or other users have any permission on it.
// Errors: the folder cannot be created or made private (e.g. another user
// owns it); the message says what to run.
func Dir(path string) error {
	if err := os.MkdirAll(path, DirMode); err != nil {
		return fmt.Errorf("create folder %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("folder %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", path)
	}
	if fi.Mode().Perm()&othersBits == 0 {
		return nil
	}
	if err := os.Chmod(path, DirMode); err != nil {
		return fmt.Errorf("folder %s is open to other users (mode %04o) and cannot be made private: %w; run chmod 700 %s", path, fi.Mode().Perm(), err, shellWords([]string{path}))
	}
	return nil
}

// CreateFile creates the empty file path with mode 0600 unless it exists,
// so that whoever fills it next (a database) keeps that mode. It does not
// check an existing file: see Check.
func CreateFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// The umask may have taken bits away (never added any); set exactly
	// 0600 so the owner can read and write it.
	if err := f.Chmod(FileMode); err != nil {
		f.Close()
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// Check refuses secret files that the group or other users have any
// permission on; files that do not exist pass. what says what the files
// hold, for the message, which names the command that fixes them.
// Errors: wrapping ErrExposed; a failure to stat a file.
func Check(what string, paths ...string) error {
	var exposed []string
	var modes []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if fi.Mode().Perm()&othersBits != 0 {
			exposed = append(exposed, p)
			modes = append(modes, fmt.Sprintf("%s is %04o", p, fi.Mode().Perm()))
		}
	}
	if len(exposed) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w (%s): run chmod 600 %s and start again",
		what, ErrExposed, strings.Join(modes, ", "), shellWords(exposed))
}

// shellWords joins paths for a shell command line, quoting those with
// characters the shell would interpret.
func shellWords(paths []string) string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@,=") == "" {
			out[i] = p
		} else {
			out[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
