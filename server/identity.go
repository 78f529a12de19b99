package server

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/peerhub/peerhub/internal/identity"
)

// The directory's TLS identity: an operator's certificate (TLSCert,
// TLSKey), or the key and self-signed certificate kept in the data folder
// (a temporary one for StoreMemory), whose pin clients learn from the
// "listening on" line, from "peerhub directory pin", or on first use.

// loadIdentity loads or creates the server's TLS identity into s.cert,
// unless it serves cleartext.
func (s *Server) loadIdentity() error {
	var err error
	switch {
	case s.cfg.InsecurePlaintext:
		return nil
	case s.cfg.TLSCert != "":
		s.cert, err = identity.LoadFiles(s.cfg.TLSCert, s.cfg.TLSKey)
	default:
		dir := s.cfg.Data
		if s.cfg.Store == StoreMemory {
			if s.tempState, err = os.MkdirTemp("", "peerhub-directory-tls-"); err != nil {
				return fmt.Errorf("TLS key folder: %w", err)
			}
			dir = s.tempState
		}
		s.cert, err = identity.LoadOrCreateFor(dir, s.cfg.TLSHosts)
	}
	if err != nil {
		return err
	}
	s.log.Info("TLS identity", "pin", string(s.Pin()))
	return nil
}

// tlsConfig is the rpcserver's TLS configuration; nil for cleartext.
func (s *Server) tlsConfig() *tls.Config {
	if s.cfg.InsecurePlaintext {
		return nil
	}
	return identity.ServerConfig(s.cert)
}

// Pin is the pin of the key the server presents; "" with
// InsecurePlaintext.
func (s *Server) Pin() identity.Pin {
	if s.cfg.InsecurePlaintext || len(s.cert.Certificate) == 0 {
		return ""
	}
	leaf := s.cert.Leaf
	if leaf == nil {
		return ""
	}
	return identity.PinOf(leaf)
}

// CertFile is the PEM file of the self-signed certificate served, which
// clients that check certificates against a file can be given (grpcurl
// -cacert); "" for an operator's certificate, StoreMemory's temporary one
// excepted, or cleartext.
func (s *Server) CertFile() string {
	switch {
	case s.cfg.InsecurePlaintext, s.cfg.TLSCert != "":
		return ""
	case s.tempState != "":
		return filepath.Join(s.tempState, identity.CertFile)
	default:
		return filepath.Join(s.cfg.Data, identity.CertFile)
	}
}

// removeTempState deletes StoreMemory's key folder, if any.
func (s *Server) removeTempState() {
	if s.tempState != "" {
		os.RemoveAll(s.tempState)
	}
}
