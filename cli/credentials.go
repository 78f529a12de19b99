package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ConfigDirEnv names the folder of the user's peerhub settings and stored
// logins, instead of os.UserConfigDir()/peerhub.
const ConfigDirEnv = "PEERHUB_CONFIG_DIR"

// credentialsFile is the file, in the config folder, of the logins
// `peerhub login` stored.
const credentialsFile = "credentials.json"

// storedLogin is one stored login: a refresh token for one account at one
// directory. Never a password.
type storedLogin struct {
	Directory    string    `json:"directory"`
	Username     string    `json:"username"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// configDir is the folder of the user's peerhub settings: $PEERHUB_CONFIG_DIR,
// else os.UserConfigDir()/peerhub.
func configDir(g *globals) (string, error) {
	if d, ok := g.streams.env(ConfigDirEnv); ok && d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no folder for stored logins (set %s): %w", ConfigDirEnv, err)
	}
	return filepath.Join(d, "peerhub"), nil
}

// loadLogins reads the stored logins; none when the file does not exist.
func loadLogins(g *globals) ([]storedLogin, string, error) {
	dir, err := configDir(g)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, credentialsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, path, nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("stored logins: %w", err)
	}
	var logins []storedLogin
	if err := json.Unmarshal(b, &logins); err != nil {
		return nil, path, fmt.Errorf("stored logins %s: %w (remove the file and run peerhub login)", path, err)
	}
	return logins, path, nil
}

// saveLogins writes the stored logins, readable by the user only (folder
// 0700, file 0600), through a temporary file renamed over the old one; it
// removes the file when none is left.
func saveLogins(path string, logins []storedLogin) error {
	if len(logins) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stored logins: %w", err)
		}
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stored logins: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("stored logins: %w", err)
	}
	b, err := json.MarshalIndent(logins, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, credentialsFile+".*")
	if err != nil {
		return fmt.Errorf("stored logins: %w", err)
	}
	defer os.Remove(f.Name()) // after a failure; gone after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("stored logins: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("stored logins: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("stored logins: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("stored logins: %w", err)
	}
	return nil
}

// findLogin returns the index of the stored login for directory and user;
// with user empty, the only login stored for directory. -1 if none (or
// several, with user empty).
func findLogin(logins []storedLogin, directory, user string) int {
	if user != "" {
		return slices.IndexFunc(logins, func(l storedLogin) bool { return l.Directory == directory && l.Username == user })
	}
	i, n := -1, 0
	for j, l := range logins {
		if l.Directory == directory {
			i, n = j, n+1
		}
	}
	if n != 1 {
		return -1
	}
	return i
}
