package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// servedBinary is a `tidemark serve` process started by a test, with its
// JSON log lines readable one by one.
type servedBinary struct {
	t     *testing.T
	cmd   *exec.Cmd
	logs  chan map[string]any
	addrs map[string]string // proto → address it listens on
}

// buildTidemark compiles the command once per test into a temporary
// directory.
func buildTidemark(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tidemark")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startServe(t *testing.T, bin string, args ...string) *servedBinary {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sb := &servedBinary{t: t, cmd: cmd, logs: make(chan map[string]any, 100), addrs: map[string]string{}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	go func() {
		defer close(sb.logs)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				rec = map[string]any{"msg": "unparsed", "line": sc.Text()}
			}
			sb.logs <- rec
		}
	}()
	return sb
}

// hangDeadline bounds each wait for the server; it only catches a hang.
const hangDeadline = 2 * time.Minute

// waitLog reads log records until one with msg, and returns it.
func (sb *servedBinary) waitLog(msg string) map[string]any {
	sb.t.Helper()
	timeout := time.After(hangDeadline)
	for {
		select {
		case rec, ok := <-sb.logs:
			if !ok {
				sb.t.Fatalf("server exited before logging %q", msg)
			}
			if rec["msg"] == "listening" {
				sb.addrs[rec["proto"].(string)] = rec["addr"].(string)
			}
			if rec["msg"] == msg {
				return rec
			}
		case <-timeout:
			sb.t.Fatalf("no %q in the log", msg)
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 whose subject
// is cn.
func writeCert(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then certificate: each file replaced by rename, as an
	// ACME client would.
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{keyFile, "PRIVATE KEY", kb}, {certFile, "CERTIFICATE", der}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// peerCN dials implicit TLS and returns the server certificate's subject,
// leaving the connection open.
func peerCN(t *testing.T, addr string) (string, *tls.Conn) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, c
}

// readUntil reads lines from r until one starts with prefix.
func readUntil(t *testing.T, conn net.Conn, r *bufio.Reader, prefix string) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(hangDeadline))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %q: %v (%q)", prefix, err, l)
		}
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// The built binary with a configuration file: LMTP delivery reaches an
// IMAP client in IDLE, SIGHUP swaps the certificate for new connections
// without dropping open ones, metrics move, and SIGTERM says BYE and exits
// cleanly.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addAccounts(t, data, "joe")
	st, err := sqlitestore.Open(data, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), "joe"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "first")
	conf := filepath.Join(dir, "tidemark.toml")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[log]
format = "json"
[imap]
listen = ""
[imaps]
listen = "127.0.0.1:0"
[tls]
cert = %q
key = %q
[lmtp]
listen = "127.0.0.1:0"
socket = %q
domains = ["example.org"]
[metrics]
listen = "127.0.0.1:0"
[quota]
messages = 100
[tombstones]
retention = "30d"
`, data, certFile, keyFile, filepath.Join(dir, "lmtp.sock"))), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// The file turns plain IMAP off; the flag, which wins, turns it on.
	sb := startServe(t, bin, "--config", conf, "--imap", "127.0.0.1:0")
	for range 5 {
		sb.waitLog("listening")
	}
	for _, p := range []string{"imap", "imaps", "lmtp", "lmtp-unix", "metrics"} {
		if sb.addrs[p] == "" {
			t.Fatalf("no %s listener in %v", p, sb.addrs)
		}
	}

	// An IMAP client IDLEs on INBOX.
	_, idle, exists := idleOnInbox(t, sb.addrs["imap"], "joe", "secret-pass")

	// A message arrives over LMTP, then another over the Unix socket.
	deliver(t, "tcp", sb.addrs["lmtp"], "over TCP")
	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("EXISTS %d, want 1", n)
		}
	case <-time.After(hangDeadline):
		t.Fatal("the IDLE client was not told of the delivery")
	}
	deliver(t, "unix", sb.addrs["lmtp-unix"], "over the socket")
	select {
	case n := <-exists:
		if n != 2 {
			t.Fatalf("EXISTS %d, want 2", n)
		}
	case <-time.After(hangDeadline):
		t.Fatal("the IDLE client was not told of the second delivery")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// SIGHUP: new handshakes get the new certificate, the open TLS
	// connection keeps working.
	cn, old := peerCN(t, sb.addrs["imaps"])
	if cn != "first" {
		t.Fatalf("certificate %q", cn)
	}
	oldR := bufio.NewReader(old)
	readUntil(t, old, oldR, "* OK")
	writeCert(t, certFile, keyFile, "second")
	if err := sb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sb.waitLog("certificate reloaded")
	if cn, _ := peerCN(t, sb.addrs["imaps"]); cn != "second" {
		t.Fatalf("after SIGHUP: certificate %q", cn)
	}
	// A reload that fails keeps the certificate in use.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sb.waitLog("certificate reload failed; keeping the current one")
	if cn, _ := peerCN(t, sb.addrs["imaps"]); cn != "second" {
		t.Fatalf("after a failed reload: certificate %q", cn)
	}
	fmt.Fprintf(old, "n1 NOOP\r\n")
	if l := readUntil(t, old, oldR, "n1 "); !strings.HasPrefix(l, "n1 OK") {
		t.Fatalf("old connection after reload: %q", l)
	}

	// Metrics and health.
	resp, err := http.Get("http://" + sb.addrs["metrics"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tidemark_lmtp_deliveries_total{result="delivered"} 2`,
		`tidemark_imap_commands_total{command="IDLE",status="OK"} 1`,
		`tidemark_imap_commands_total{command="LOGIN",status="OK"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, err = http.Get("http://" + sb.addrs["metrics"] + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// SIGTERM: the client between commands is told BYE, the process
	// exits 0.
	if err := sb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := readUntil(t, old, oldR, "* BYE"); !strings.Contains(l, "shutting down") {
		t.Errorf("BYE %q", l)
	}
	sb.waitLog("stopped")
	done := make(chan error, 1)
	go func() { done <- sb.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(hangDeadline):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// A bad configuration stops serve before it listens, with every problem.
func TestServeRefusesBadConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(conf, []byte("[imap]\nlisten = \"no port\"\n[limits]\nidle_timeout = \"1m\"\n"), 0o600)
	if code := runServe([]string{"--config", conf}); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if code := runConfig([]string{"check", conf}); code != 1 {
		t.Fatalf("config check exit %d", code)
	}
	good := filepath.Join(t.TempDir(), "good.toml")
	os.WriteFile(good, []byte("[lmtp]\nlisten = \"127.0.0.1:2424\"\n"), 0o600)
	if code := runConfig([]string{"check", good}); code != 0 {
		t.Fatalf("config check of a good file: exit %d", code)
	}
	if code := runConfig([]string{"lint", good}); code != 2 {
		t.Fatalf("usage: exit %d", code)
	}
}

// deliver sends one message to joe over LMTP.
func deliver(t *testing.T, network, addr, subject string) {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if err := lc.Hello("mta.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Mail("sender@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt("joe@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Rcpt("joe@elsewhere.example", nil); err == nil {
		t.Fatal("a domain not configured was accepted")
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: sender@example.net\r\nSubject: "+subject+"\r\n\r\nHello.\r\n")
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatal(err)
	}
	lc.Quit()
}

// idleOnInbox logs user in at addr with the go-imap client, selects INBOX
// and starts IDLE; exists receives every EXISTS count announced. The
// client is closed when the test ends.
func idleOnInbox(t *testing.T, addr, user, pass string) (*imapclient.Client, *imapclient.IdleCommand, <-chan uint32) {
	t.Helper()
	exists := make(chan uint32, 100)
	cl, err := imapclient.DialInsecure(addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := cl.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return cl, idle, exists
}
