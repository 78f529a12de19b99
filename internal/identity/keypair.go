package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/peerhub/peerhub/internal/private"
)

// Names of the files LoadOrCreate keeps in a state folder.
const (
	// KeyFile holds the private key (PKCS #8 PEM, mode 0600).
	KeyFile = "tls-key.pem"
	// CertFile holds the self-signed certificate (PEM), which clients may
	// be given as their trust anchor (grpcurl -cacert, curl --cacert).
	CertFile = "tls-cert.pem"
)

// Validity of a generated certificate. Clients that pin the key ignore it;
// a certificate that has expired (or expires within certRenewBefore) is
// reissued over the same key at the next start, so the pin stays.
const (
	certValidity    = 10 * 365 * 24 * time.Hour
	certRenewBefore = 30 * 24 * time.Hour
	// certBackdate covers clocks a little behind ours.
	certBackdate = time.Hour
)

// DefaultHosts are the names every generated certificate carries, so that
// a local client that checks names against the certificate (curl --cacert,
// grpcurl -cacert) accepts it on this machine.
func DefaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return hosts
}

// LoadOrCreate returns the key pair kept in dir (KeyFile and CertFile),
// creating dir (0700), the key (ECDSA P-256, 0600) and a self-signed
// certificate for DefaultHosts on first use. The key is kept across
// restarts; see LoadOrCreateFor.
func LoadOrCreate(dir string) (tls.Certificate, error) {
	return LoadOrCreateFor(dir, nil)
}

// LoadOrCreateFor is LoadOrCreate with extra host names or IP addresses in
// the certificate (a role's advertised host, a compose service name). The
// certificate is reissued over the same key, so the pin does not change,
// when it lacks one of them or is near its expiry.
// Errors: the folder or files cannot be created or read; an existing key
// other users may read (private.ErrExposed); a key or certificate that does
// not parse, or a certificate of another key.
func LoadOrCreateFor(dir string, hosts []string) (tls.Certificate, error) {
	if err := private.Dir(dir); err != nil {
		return tls.Certificate{}, err
	}
	keyPath := filepath.Join(dir, KeyFile)
	certPath := filepath.Join(dir, CertFile)
	if err := private.Check("TLS key", keyPath); err != nil {
		return tls.Certificate{}, err
	}
	key, err := loadOrCreateKey(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	want := append(DefaultHosts(), hosts...)
	cert, err := loadCert(certPath, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if cert == nil || !covers(cert, want) || time.Until(cert.NotAfter) < certRenewBefore {
		if cert, err = issue(key, want); err != nil {
			return tls.Certificate{}, err
		}
		if err := writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// loadOrCreateKey reads the key at path, or generates one and writes it
// there (0600) if there is none.
func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate TLS key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode TLS key: %w", err)
		}
		if err := writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), private.FileMode); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read TLS key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("TLS key %s: no PKCS #8 PEM block (PRIVATE KEY); remove the file to generate a new key (the pin changes)", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("TLS key %s: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("TLS key %s: a %T, want an ECDSA key", path, parsed)
	}
	return key, nil
}

// loadCert reads the certificate at path; nil if there is none or it is not
// a certificate of key (so that it is reissued).
func loadCert(path string, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read TLS certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil
	}
	return cert, nil
}

// covers reports whether cert names every host.
func covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(cert.DNSNames, h) {
			return false
		}
	}
	return true
}

// issue returns a new self-signed certificate of key for hosts.
func issue(key *ecdsa.PrivateKey, hosts []string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "peerhub"},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// A CA of itself only, so that OpenSSL and Go accept it as the
		// trust anchor a client is given (--cacert); it signs nothing else.
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create TLS certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// writeFile writes data to path with mode through a temporary file in the
// same folder, so that a crash never leaves half a key or certificate.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadFiles returns an operator's key pair from PEM files (a certificate
// from a CA, say), for --tls-cert and --tls-key. Its pin is that of the
// certificate's key, as for a generated one.
// Errors: a key file other users may read (private.ErrExposed); files that
// cannot be read or do not match.
func LoadFiles(certFile, keyFile string) (tls.Certificate, error) {
	if err := private.Check("TLS key", keyFile); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load TLS key pair: %w", err)
	}
	return cert, nil
}
