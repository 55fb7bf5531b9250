package tlscert

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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of the generated certificate, under the data directory.
const (
	SelfSignedDir  = "tls"
	SelfSignedCert = "cert.pem"
	SelfSignedKey  = "key.pem"
)

const (
	selfSignedValidity    = 2 * 365 * 24 * time.Hour
	selfSignedRenewBefore = 30 * 24 * time.Hour
)

// loadOrCreateSelfSigned returns the generated certificate of dataDir,
// making a new one if there is none, it does not load, or it expires
// within selfSignedRenewBefore of now.
func loadOrCreateSelfSigned(dataDir string, now time.Time) (*tls.Certificate, error) {
	dir := filepath.Join(dataDir, SelfSignedDir)
	certPath, keyPath := filepath.Join(dir, SelfSignedCert), filepath.Join(dir, SelfSignedKey)
	cert, err := loadPair(certPath, keyPath)
	switch {
	case err == nil && now.Add(selfSignedRenewBefore).Before(cert.Leaf.NotAfter):
		return cert, nil
	case errors.Is(err, os.ErrPermission):
		return nil, err // an unreadable file is the operator's to fix, not ours to overwrite
	}
	certPEM, keyPEM, err := generateSelfSigned(now, hostName())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	// Key first: a crash between the two renames leaves a pair that does
	// not match, which the next start replaces.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return loadPair(certPath, keyPath)
}

// hostName is the machine's name if it is usable as a DNS SAN.
func hostName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" || h == "localhost" || strings.ContainsAny(h, " /\\:*") {
		return ""
	}
	return h
}

// generateSelfSigned makes a P-256 key and a self-signed server
// certificate for localhost, 127.0.0.1, ::1 and host (if not empty).
func generateSelfSigned(now time.Time, host string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: serial: %w", err)
	}
	names := []string{"localhost"}
	cn := "localhost"
	if host != "" {
		names = append(names, host)
		cn = host
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Tidemark self-signed"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clients whose clock is a little behind
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	return certPEM, keyPEM, nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced, so
// after a crash path holds either the old or the new content, whole.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("tlscert: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tlscert: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tlscert: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tlscert: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tlscert: sync %s: %w", dir, err)
	}
	return nil
}
