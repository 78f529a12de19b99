package identity_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/private"
)

// pinFromKey computes the pin from the key's public half by another path
// than PinOf (the certificate's raw SPKI), as curl would from the wire.
func pinFromKey(t *testing.T, cert tls.Certificate) identity.Pin {
	t.Helper()
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		t.Fatalf("key %T has no public half", cert.PrivateKey)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return identity.Pin("sha256//" + base64.StdEncoding.EncodeToString(sum[:]))
}

func TestLoadOrCreateKeepsKeyAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	pin := identity.PinOf(first.Leaf)
	if want := pinFromKey(t, first); pin != want {
		t.Fatalf("PinOf = %s, SPKI of the key = %s", pin, want)
	}
	if _, err := identity.ParsePin(string(pin)); err != nil {
		t.Fatalf("own pin does not parse: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, identity.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %04o, want 0700", di.Mode().Perm())
	}
	again, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := identity.PinOf(again.Leaf); got != pin {
		t.Fatalf("pin after restart %s, want %s", got, pin)
	}
	if string(again.Certificate[0]) != string(first.Certificate[0]) {
		t.Fatal("certificate reissued although nothing changed")
	}
	// A new host reissues the certificate over the same key.
	withHost, err := identity.LoadOrCreateFor(dir, []string{"directory.example", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := identity.PinOf(withHost.Leaf); got != pin {
		t.Fatalf("pin after adding a host %s, want %s", got, pin)
	}
	if err := withHost.Leaf.VerifyHostname("directory.example"); err != nil {
		t.Fatal(err)
	}
	if err := withHost.Leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	if err := withHost.Leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	// The certificate on disk is the one served, and a client given it as
	// its only root accepts it (grpcurl -cacert, curl --cacert).
	data, err := os.ReadFile(filepath.Join(dir, identity.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || string(block.Bytes) != string(withHost.Certificate[0]) {
		t.Fatal("tls-cert.pem is not the certificate served")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(data)
	if _, err := withHost.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "directory.example"}); err != nil {
		t.Fatalf("the certificate is not its own trust anchor: %v", err)
	}
}

func TestLoadOrCreateRefusesExposedKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := identity.LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, identity.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := identity.LoadOrCreate(dir)
	if !errors.Is(err, private.ErrExposed) {
		t.Fatalf("err = %v, want ErrExposed", err)
	}
	if !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("message %q does not say what to run", err)
	}
}

func TestLoadOrCreateRefusesGarbageKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, identity.KeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), identity.KeyFile) {
		t.Fatalf("err = %v, want one naming the key file", err)
	}
}

func TestLoadOrCreateReplacesForeignCertificate(t *testing.T) {
	dir := t.TempDir()
	mine, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Someone put another key's certificate next to our key: the served
	// certificate must still be of our key.
	foreign := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate[0]})
	if err := os.WriteFile(filepath.Join(dir, identity.CertFile), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if identity.PinOf(got.Leaf) != identity.PinOf(mine.Leaf) {
		t.Fatal("served a certificate of another key")
	}
}

func TestParsePin(t *testing.T) {
	good := "sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	if _, err := identity.ParsePin(good); err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	for _, bad := range []string{
		"",
		"sha1//" + base64.StdEncoding.EncodeToString(make([]byte, 20)),
		"sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 31)),
		"sha256//" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)),
		"sha256//" + strings.Repeat("!", 44),
		strings.TrimPrefix(good, "sha256//"),
	} {
		if _, err := identity.ParsePin(bad); !errors.Is(err, identity.ErrBadPin) {
			t.Errorf("ParsePin(%q) = %v, want ErrBadPin", bad, err)
		}
	}
}

// serve accepts TLS connections on 127.0.0.1 with cert until the test ends
// and reports each handshake's negotiated protocol.
func serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", identity.ServerConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("x"))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestClientConfigAcceptsOnlyThePin(t *testing.T) {
	real, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pin := identity.PinOf(real.Leaf)

	conn, err := tls.Dial("tcp", serve(t, real), identity.ClientConfig(pin))
	if err != nil {
		t.Fatalf("pinned server refused: %v", err)
	}
	if got := conn.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Fatalf("ALPN %q, want h2", got)
	}
	conn.Close()

	// The same address name, another key: refused.
	_, err = tls.Dial("tcp", serve(t, impostor), identity.ClientConfig(pin))
	if !errors.Is(err, identity.ErrPinMismatch) {
		t.Fatalf("impostor: err = %v, want ErrPinMismatch", err)
	}
	// No pin: refused.
	_, err = tls.Dial("tcp", serve(t, real), identity.ClientConfig(""))
	if !errors.Is(err, identity.ErrPinMismatch) {
		t.Fatalf("empty pin: err = %v, want ErrPinMismatch", err)
	}
}

// A server that presents the pinned certificate without holding its key
// fails the handshake: the pin is proved by possession, not by showing the
// (public) certificate.
func TestClientConfigRefusesCertificateWithoutKey(t *testing.T) {
	real, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stolen := tls.Certificate{Certificate: real.Certificate, PrivateKey: impostor.PrivateKey}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = tls.Server(c, identity.ServerConfig(stolen)).Handshake()
	}()
	if c, err := tls.Dial("tcp", ln.Addr().String(), identity.ClientConfig(identity.PinOf(real.Leaf))); err == nil {
		c.Close()
		t.Fatal("a server without the pinned key passed the handshake")
	}
}
