package rpcclient

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/private"
)

// KnownHostsFile is the name of the known-hosts file in the config folder.
const KnownHostsFile = "known_hosts"

// ErrKeyChanged is wrapped by the error of a directory whose key is not the
// one remembered for its address: a man in the middle, or a key its
// operator replaced. The message names the file to edit.
var ErrKeyChanged = errors.New("the directory's TLS key changed")

// KnownHosts remembers, like ssh's known_hosts, the pin of each directory
// first reached without a pin or a certificate authority (trust on first
// use): one line "HOST:PORT PIN" per directory, in a file that is 0600 in a
// 0700 folder. Safe for concurrent use within a process.
type KnownHosts struct {
	// Path is the file.
	Path string
	mu   sync.Mutex
}

// NewKnownHosts returns the known hosts kept in the file path.
func NewKnownHosts(path string) *KnownHosts { return &KnownHosts{Path: path} }

// Check accepts pin for hostport if the file remembers it, or remembers it
// if the file has no pin for hostport.
// Errors: wrapping ErrKeyChanged when the file has another pin for
// hostport; the file cannot be read or written.
func (k *KnownHosts) Check(hostport string, pin identity.Pin) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	known, err := k.lookup(hostport)
	if err != nil {
		return err
	}
	switch known {
	case pin:
		return nil
	case "":
		return k.add(hostport, pin)
	default:
		return fmt.Errorf("%w: the directory at %s presented the key %s, but %s remembers %s for it. "+
			"Someone may be intercepting the connection; if its operator replaced the key (peerhub directory pin prints it on its machine), "+
			"remove the line %q from %s and try again",
			ErrKeyChanged, hostport, pin, k.Path, known, hostport, k.Path)
	}
}

// Lookup returns the pin remembered for hostport, "" if none.
func (k *KnownHosts) Lookup(hostport string) (identity.Pin, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lookup(hostport)
}

func (k *KnownHosts) lookup(hostport string) (identity.Pin, error) {
	f, err := os.Open(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		host, pin, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if ok && host == hostport {
			return identity.Pin(strings.TrimSpace(pin)), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("known hosts %s: %w", k.Path, err)
	}
	return "", nil
}

func (k *KnownHosts) add(hostport string, pin identity.Pin) error {
	if err := private.Dir(filepath.Dir(k.Path)); err != nil {
		return err
	}
	f, err := os.OpenFile(k.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, private.FileMode)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", hostport, pin); err != nil {
		f.Close()
		return fmt.Errorf("known hosts %s: %w", k.Path, err)
	}
	return f.Close()
}
