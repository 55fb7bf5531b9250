package tlscert

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSelfSignedGeneratedAndReused(t *testing.T) {
	dir := t.TempDir()
	r1, err := NewReloader(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !r1.SelfSigned() {
		t.Error("SelfSigned() false without files")
	}
	leaf := r1.Certificate().Leaf
	if !slices.Contains(leaf.DNSNames, "localhost") {
		t.Errorf("DNS names %v lack localhost", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Contains(ips, "127.0.0.1") || !slices.Contains(ips, "::1") {
		t.Errorf("IP addresses %v lack 127.0.0.1 or ::1", ips)
	}
	if h := hostName(); h != "" && !slices.Contains(leaf.DNSNames, h) {
		t.Errorf("DNS names %v lack host name %q", leaf.DNSNames, h)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SelfSignedDir, SelfSignedKey))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}

	r2, err := NewReloader(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if r2.Certificate().Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Error("second start generated a new certificate instead of reusing the first")
	}
}

func TestSelfSignedRenewedNearExpiry(t *testing.T) {
	dir := t.TempDir()
	first, err := loadOrCreateSelfSigned(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	later := first.Leaf.NotAfter.Add(-selfSignedRenewBefore / 2)
	second, err := loadOrCreateSelfSigned(dir, later)
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Error("certificate close to expiry was not replaced")
	}
	if !second.Leaf.NotAfter.After(later.Add(selfSignedRenewBefore)) {
		t.Errorf("replacement expires %v, too soon after %v", second.Leaf.NotAfter, later)
	}
}

// A crash between the two renames leaves a new key with the old
// certificate; the next start must replace the pair, not fail.
func TestSelfSignedMismatchedPairReplaced(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadOrCreateSelfSigned(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := generateSelfSigned(time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, SelfSignedDir, SelfSignedKey), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReloader(dir, "", ""); err != nil {
		t.Fatalf("mismatched generated pair not replaced: %v", err)
	}
}

func TestFilesMustComeInPairs(t *testing.T) {
	if _, err := NewReloader(t.TempDir(), "cert.pem", ""); err == nil {
		t.Error("certificate without key accepted")
	}
	if _, err := NewReloader(t.TempDir(), "", "key.pem"); err == nil {
		t.Error("key without certificate accepted")
	}
	if _, err := Load(t.TempDir(), "/nonexistent/cert.pem", "/nonexistent/key.pem"); err == nil {
		t.Error("missing files accepted")
	}
}

// writePair writes a fresh self-signed pair to the given files.
func writePair(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := generateSelfSigned(time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// serveEcho accepts TLS connections and echoes lines until the listener
// closes.
func serveEcho(t *testing.T, cfg *tls.Config) net.Listener {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
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
				io.Copy(c, c)
			}()
		}
	}()
	return ln
}

// dialTrusting connects trusting only leaf, so the handshake succeeds only
// if the server presents exactly that certificate.
func dialTrusting(t *testing.T, addr string, leaf *x509.Certificate) (*tls.Conn, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
}

func echo(t *testing.T, c *tls.Conn, line string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(2 * time.Minute)) // only a hang
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("write on connection: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo = %q, %v; want %q", got, err, line)
	}
}

func TestReloadSwapsCertificateKeepingConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	leaf1 := writePair(t, certFile, keyFile)
	r, err := NewReloader("", certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	ln := serveEcho(t, cfg)
	addr := ln.Addr().String()

	old, err := dialTrusting(t, addr, leaf1)
	if err != nil {
		t.Fatalf("handshake before reload: %v", err)
	}
	defer old.Close()
	echo(t, old, "before")

	leaf2 := writePair(t, certFile, keyFile)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dialTrusting(t, addr, leaf1); err == nil {
		t.Error("new handshake still presents the old certificate")
	}
	fresh, err := dialTrusting(t, addr, leaf2)
	if err != nil {
		t.Fatalf("handshake after reload: %v", err)
	}
	defer fresh.Close()
	echo(t, fresh, "new")
	peer := fresh.ConnectionState().PeerCertificates[0]
	if peer.SerialNumber.Cmp(leaf2.SerialNumber) != 0 {
		t.Error("new connection did not get the new certificate")
	}
	echo(t, old, "after") // the old connection is untouched

	// A failed reload keeps the certificate in use.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if c, err := dialTrusting(t, addr, leaf2); err != nil {
		t.Errorf("handshake after failed reload: %v", err)
	} else {
		c.Close()
	}
}

func TestTLS11Refused(t *testing.T) {
	cfg, err := Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ln := serveEcho(t, cfg)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	})
	if err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake accepted")
	}
}
