package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/peerhub/peerhub/internal/rpcclient"
)

// knownHosts is the file of directory keys trusted on first use, in the
// config folder (like ssh's known_hosts); nil when there is no config
// folder.
func knownHosts(g *globals) *rpcclient.KnownHosts {
	dir, err := configDir(g)
	if err != nil {
		return nil
	}
	return rpcclient.NewKnownHosts(filepath.Join(dir, rpcclient.KnownHostsFile))
}

// healthClient returns the base URL and client for "peerhub health": an
// https:// server is trusted by the pin in the URL, else by cacert (a PEM
// file), else by the system's authorities.
func healthClient(raw, cacert string) (string, *http.Client, error) {
	base, pin, err := rpcclient.SplitPin(raw)
	if err != nil {
		return "", nil, err
	}
	if pin != "" || cacert == "" {
		base, hc, err := rpcclient.DirectoryClient(raw, nil)
		return base, hc, err
	}
	pem, err := os.ReadFile(cacert)
	if err != nil {
		return "", nil, fmt.Errorf("--cacert: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return "", nil, errors.New("--cacert: no PEM certificate in the file")
	}
	return base, rpcclient.NewTLSClient(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), nil
}
