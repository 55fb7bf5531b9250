// Package tlscert owns the server's TLS certificate: where it comes from and
// how it is replaced while the server runs.
//
// # Model
//
// A certificate comes either from files the operator names (certificate
// chain and private key, PEM), or, when none are named, from a self-signed
// ECDSA P-256 certificate for localhost, 127.0.0.1, ::1 and the host name,
// generated into DATA/tls/cert.pem and DATA/tls/key.pem (0600) on first use
// and reused afterwards, so that clients that pinned it keep working across
// restarts. The generated pair is replaced when it is within
// selfSignedRenewBefore of expiry or does not load (a crash between writing
// its two files).
//
// A Reloader holds the current certificate behind an atomic pointer and
// hands it to crypto/tls through Config.GetCertificate, so every new
// handshake sees the certificate of the latest successful Reload while
// established connections, which have finished their handshake, are not
// touched. A failed Reload keeps the previous certificate.
package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader serves a certificate that can be replaced at run time.
type Reloader struct {
	dataDir, certFile, keyFile string

	mu  sync.Mutex // serializes Reload
	cur atomic.Pointer[tls.Certificate]
}

// NewReloader loads the certificate: from certFile and keyFile if given
// (both or neither), otherwise the self-signed one in dataDir/tls.
func NewReloader(dataDir, certFile, keyFile string) (*Reloader, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tlscert: a certificate file and a key file must be given together")
	}
	if certFile == "" && dataDir == "" {
		return nil, errors.New("tlscert: no certificate files and no data directory for a self-signed one")
	}
	r := &Reloader{dataDir: dataDir, certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Load returns a server tls.Config (TLS 1.2 minimum) backed by a new
// Reloader; see NewReloader. Use NewReloader instead when the certificate
// must be replaceable later.
func Load(dataDir, certFile, keyFile string) (*tls.Config, error) {
	r, err := NewReloader(dataDir, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return r.TLSConfig(), nil
}

// Reload reads the certificate again from its source. On error the
// certificate in use is kept.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		cert *tls.Certificate
		err  error
	)
	if r.certFile != "" {
		cert, err = loadPair(r.certFile, r.keyFile)
	} else {
		cert, err = loadOrCreateSelfSigned(r.dataDir, time.Now())
	}
	if err != nil {
		return err
	}
	r.cur.Store(cert)
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Certificate returns the certificate in use.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// SelfSigned reports whether the certificate is the generated one.
func (r *Reloader) SelfSigned() bool { return r.certFile == "" }

// TLSConfig returns a new server configuration that takes its certificate
// from r at every handshake.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
	}
}

// loadPair reads a PEM certificate chain and its private key, and checks
// that the first certificate parses (tls.X509KeyPair already checks that
// it matches the key).
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlscert: %s, %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlscert: %s: %w", certFile, err)
		}
	}
	return &cert, nil
}
