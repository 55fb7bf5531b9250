package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// securityServer builds the binary and serves IMAP and LMTP on a fresh data
// directory with the given users (password "pw-" + name); extra is added to
// the configuration file.
func securityServer(t *testing.T, users []string, extra string) (*servedBinary, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	accts, err := auth.OpenAccountsWith(data, auth.Options{
		Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(data, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := accts.Add(u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	accts.Close()
	st.Close()
	conf := filepath.Join(dir, "tidemark.toml")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[log]
format = "json"
[imap]
listen = "127.0.0.1:0"
[imaps]
listen = ""
[lmtp]
listen = "127.0.0.1:0"
domains = ["example.org"]
[metrics]
listen = ""
%s`, data, extra)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sb := startServe(t, bin, "--config", conf)
	for sb.addrs["imap"] == "" || sb.addrs["lmtp"] == "" {
		sb.waitLog("listening")
	}
	go func() {
		for range sb.logs { // keep the log pipe drained
		}
	}()
	return sb, data
}

// lmtpSend delivers msg to rcpt and returns the per-recipient error.
func lmtpSend(t *testing.T, addr, rcpt string, msg []byte) error {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
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
	if err := lc.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	_, err = w.CloseWithLMTPResponse()
	lc.Quit()
	return err
}

// readTagged reads lines until the tagged response of tag and returns all
// of them.
func readTagged(t *testing.T, conn net.Conn, r *bufio.Reader, tag string) string {
	t.Helper()
	var b strings.Builder
	for {
		l := readUntil(t, conn, r, "")
		b.WriteString(l)
		if strings.HasPrefix(l, tag+" ") {
			return b.String()
		}
	}
}

// peakRSS is the high-water mark of a process's resident memory, from
// Linux's /proc.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to measure memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc status")
	return 0
}

// mimeBomb is a 5.6 MB message of 800,000 empty MIME parts.
func mimeBomb(subject string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: x@example.net\r\nSubject: %s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n", subject)
	for range 800_000 {
		b.WriteString("--b\r\n\r\n")
	}
	b.WriteString("--b--\r\n")
	return b.Bytes()
}

// TestMIMEBombBinary delivers four MIME-part bombs over LMTP and one over
// APPEND, then SELECTs and FETCHes them as the victim's client would: the
// mail is accepted whole, the answers are small, and the server's peak
// memory stays under a fixed ceiling (it passed 600 MB with one bomb when
// parts were unbounded).
func TestMIMEBombBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measures memory through /proc")
	}
	sb, _ := securityServer(t, []string{"joe"}, "")
	bomb := mimeBomb("bomb")
	for i := range 4 {
		if err := lmtpSend(t, sb.addrs["lmtp"], "joe@example.org", bomb); err != nil {
			t.Fatalf("bomb %d refused: %v", i, err)
		}
	}
	// APPEND by literal protocol lines, then SELECT and FETCH.
	conn, err := net.Dial("tcp", sb.addrs["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 1<<20)
	readUntil(t, conn, r, "* OK")
	fmt.Fprintf(conn, "a LOGIN joe pw-joe\r\n")
	readUntil(t, conn, r, "a OK")
	fmt.Fprintf(conn, "b APPEND INBOX {%d}\r\n", len(bomb))
	readUntil(t, conn, r, "+")
	conn.Write(bomb)
	conn.Write([]byte("\r\n"))
	readUntil(t, conn, r, "b OK")
	fmt.Fprintf(conn, "c SELECT INBOX\r\n")
	if got := readTagged(t, conn, r, "c"); !strings.Contains(got, "* 5 EXISTS") {
		t.Fatalf("SELECT after 5 bombs:\n%s", got)
	}
	fmt.Fprintf(conn, "d FETCH 1:* (ENVELOPE FLAGS RFC822.SIZE)\r\n")
	if got := readTagged(t, conn, r, "d"); strings.Count(got, "ENVELOPE") != 5 || !strings.Contains(got, fmt.Sprintf("RFC822.SIZE %d", len(bomb))) {
		t.Fatalf("FETCH ENVELOPE:\n%.2000s", got)
	}
	fmt.Fprintf(conn, "e FETCH 1:* BODYSTRUCTURE\r\n")
	got := readTagged(t, conn, r, "e")
	if strings.Count(got, "BODYSTRUCTURE") != 5 || len(got) > 5*64<<10 {
		t.Fatalf("FETCH BODYSTRUCTURE: %d bytes", len(got))
	}
	// The whole message is still there, byte for byte.
	c2, err := imapclient.DialInsecure(sb.addrs["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("joe", "pw-joe").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c2.Fetch(imap.SeqSetNum(5), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].FindBodySection(&imap.FetchItemBodySection{Peek: true}), bomb) {
		t.Fatal("BODY[] of the appended bomb differs from what was sent")
	}
	if peak := peakRSS(t, sb.cmd.Process.Pid); peak > 256<<20 {
		t.Errorf("server peak memory %d MB, ceiling 256 MB", peak>>20)
	} else {
		t.Logf("server peak memory %d MB", peak>>20)
	}
}

// TestReaddedUserBinary deletes an account with `tidemark user del` (another
// process) while the running server has its store open (a session in IDLE,
// the shared open mailbox), then re-adds the name. The deleted user's
// session ends; delivery to the deleted name is refused rather than written
// into deleted files; the new account sees only its own mail.
func TestReaddedUserBinary(t *testing.T) {
	sb, data := securityServer(t, []string{"rita"}, "")
	bin := sb.cmd.Path
	if err := lmtpSend(t, sb.addrs["lmtp"], "rita@example.org", []byte("Subject: old secret\r\n\r\nold\r\n")); err != nil {
		t.Fatal(err)
	}
	// The old owner's session sits in IDLE on INBOX.
	conn, err := net.Dial("tcp", sb.addrs["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readUntil(t, conn, r, "* OK")
	fmt.Fprintf(conn, "a LOGIN rita pw-rita\r\n")
	readUntil(t, conn, r, "a OK")
	fmt.Fprintf(conn, "b SELECT INBOX\r\n")
	readUntil(t, conn, r, "b OK")
	fmt.Fprintf(conn, "c IDLE\r\n")
	readUntil(t, conn, r, "+")

	user := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"user"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tidemark user %v: %v\n%s", args, err, out)
		}
	}
	user("", "del", "--data", data, "--yes", "rita")
	// The server notices and ends the deleted user's session.
	if l := readUntil(t, conn, r, "* BYE"); !strings.Contains(l, "Account deleted") {
		t.Errorf("session of the deleted user: %q", l)
	}
	if err := lmtpSend(t, sb.addrs["lmtp"], "rita@example.org", []byte("Subject: to nobody\r\n\r\nx\r\n")); err == nil {
		t.Fatal("delivery to a deleted user acknowledged")
	}
	user("new-password\n", "add", "--data", data, "rita")
	if err := lmtpSend(t, sb.addrs["lmtp"], "rita@example.org", []byte("Subject: new mail\r\n\r\nnew\r\n")); err != nil {
		t.Fatalf("delivery to the re-added user: %v", err)
	}
	cl, err := imapclient.DialInsecure(sb.addrs["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("rita", "new-password").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := cl.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := cl.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Envelope.Subject)
	}
	if sel.NumMessages != 1 || len(subjects) != 1 || subjects[0] != "new mail" {
		t.Fatalf("re-added user sees %d messages: %q", sel.NumMessages, subjects)
	}
}

// TestNoDemoAccountWithConfig: a server started with --config on an empty
// data directory creates no account (and prints no password); --demo asks
// for the demo account.
func TestNoDemoAccountWithConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "tidemark.toml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\n[log]\nformat = \"json\"\n[imap]\nlisten = \"127.0.0.1:0\"\n[imaps]\nlisten = \"\"\n", data)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	accounts := func() []string {
		a, err := auth.OpenAccounts(data)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		names, err := a.List()
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	for _, demo := range []bool{false, true} {
		args := []string{"--config", conf}
		if demo {
			args = append(args, "--demo")
		}
		sb := startServe(t, bin, args...)
		sb.waitLog("listening")
		sb.cmd.Process.Signal(os.Interrupt)
		sb.cmd.Wait()
		names := accounts()
		if demo != (len(names) == 1 && names[0] == "demo") || !demo && len(names) != 0 {
			t.Errorf("--demo=%v: accounts %v", demo, names)
		}
	}
}
