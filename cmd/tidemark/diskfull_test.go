package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// mountSmall mounts a tmpfs of the given size (e.g. "24m") for the test and
// unmounts it at the end; it skips where mounting is not allowed.
func mountSmall(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a filler file in dir until the filesystem has about
// leave bytes free (0: until ENOSPC), and returns the function that frees
// the space again.
func fillDisk(t *testing.T, dir string, leave int64) (release func()) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	want := int64(st.Bavail)*st.Bsize - leave
	name := filepath.Join(dir, fmt.Sprintf("filler-%d", time.Now().UnixNano()))
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for n := int64(0); leave == 0 || n < want; {
		b := chunk
		if leave != 0 && want-n < int64(len(b)) {
			b = b[:want-n]
		}
		k, err := f.Write(b)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// bigMessage is a message of about size bytes, distinct per subject; a
// body this size is stored as a blob file. Its lines are base64 of
// pseudo-random bytes (seeded by the subject, so the same on every run):
// the store compresses bodies, and a message must take about its size on
// the disk these tests fill. The body is an attachment, not text: the text
// index would otherwise hold several times its size in trigrams of random
// characters, and the disk would fill on the index rather than the mail.
func bigMessage(subject string, size int) string {
	h := fnv.New64a()
	h.Write([]byte(subject))
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	raw := make([]byte, 51) // 68 base64 characters a line
	for b.Len() < size {
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		b.WriteString(base64.StdEncoding.EncodeToString(raw))
		b.WriteString("\r\n")
	}
	return b.String()
}

// appendLine sends one APPEND of msgs (MULTIAPPEND for several, RFC 3502)
// with LITERAL+ and returns the tagged response.
func appendLine(t *testing.T, c *lineClient, box string, msgs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("APPEND " + box)
	for _, m := range msgs {
		fmt.Fprintf(&b, " {%d+}\r\n%s", len(m), m)
	}
	_, tagged, err := c.do(b.String())
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return tagged
}

// wantFull checks a tagged response is the clean disk-full refusal.
func wantFull(t *testing.T, what, tagged string) {
	t.Helper()
	if !strings.HasPrefix(tagged, "NO [UNAVAILABLE]") || !strings.Contains(tagged, "storage is full") {
		t.Errorf("%s on a full disk: %q, want NO [UNAVAILABLE] ... storage is full", what, tagged)
	}
}

func lmtpTry(t *testing.T, addr, body string) error {
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
	if err := lc.Rcpt("joe@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	// A refusal is an smtp.LMTPDataError holding the recipient's reply.
	_, err = w.CloseWithLMTPResponse()
	return err
}

// A data directory on a small filesystem that fills up: every write path
// (APPEND, MULTIAPPEND, COPY, LMTP, `tidemark deliver`, `tidemark import`)
// is refused cleanly, reads and IDLE go on, what was stored is intact,
// and writes work again as soon as space returns, without a restart.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	mnt := mountSmall(t, "24m")
	bin := buildTidemark(t)
	data := filepath.Join(mnt, "data")
	killTestDataIn(t, data)
	conf := filepath.Join(t.TempDir(), "tidemark.toml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
[log]
format = "json"
[imap]
listen = "127.0.0.1:0"
[imaps]
listen = ""
[lmtp]
listen = "127.0.0.1:0"
domains = ["example.org"]
`, data)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sb := startServe(t, bin, "--config", conf)
	sb.waitLog("listening")
	sb.waitLog("listening")
	var fullLogged bool
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		for rec := range sb.logs {
			if rec["msg"] == "command error" && strings.Contains(fmt.Sprint(rec["err"]), "storage full") {
				fullLogged = true
			}
		}
	}()

	conn, err := net.Dial("tcp", sb.addrs["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &lineClient{conn: conn, r: bufio.NewReader(conn)}
	c.r.ReadString('\n')
	for _, cmd := range []string{"LOGIN joe secret-pass", "SELECT INBOX"} {
		if _, tagged, err := c.do(cmd); err != nil || !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("%s: %q %v", cmd, tagged, err)
		}
	}
	// What is stored before the disk fills: small (inline) and large
	// (blob file) messages.
	stored := []string{"From: a@example.org\r\nSubject: small\r\n\r\nsmall\r\n", bigMessage("big1", 100<<10), bigMessage("big2", 50<<10)}
	for _, m := range stored {
		if tagged := appendLine(t, c, "INBOX", m); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("APPEND before the disk is full: %q", tagged)
		}
	}

	// Messages nobody has seen yet: a later IMAP4rev1 SELECT claims them
	// as \Recent, a write.
	if tagged := appendLine(t, c, "Archive", stored[0], stored[1]); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("APPEND before the disk is full: %q", tagged)
	}

	// A second client waits in IDLE on INBOX.
	idler, idle, exists := idleOnInbox(t, sb.addrs["imap"], "joe", "secret-pass")

	// A MULTIAPPEND that the disk cannot hold whole: room for its first
	// message's file, not for the rest. None of it is stored (RFC 3502 6.3.11).
	release := fillDisk(t, mnt, 150<<10)
	tagged := appendLine(t, c, "INBOX", bigMessage("m1", 100<<10), bigMessage("m2", 100<<10), bigMessage("m3", 100<<10))
	wantFull(t, "MULTIAPPEND filling the disk midway", tagged)
	releaseAll := fillDisk(t, mnt, 0)

	// Now the disk is full. Small appends may still fit in space the
	// database already holds; each is either stored or refused cleanly,
	// and they soon stop fitting.
	acked := len(stored)
	refused := false
	for i := 0; i < 2000 && !refused; i++ {
		m := fmt.Sprintf("From: a@example.org\r\nSubject: full %d\r\n\r\n%s\r\n", i, strings.Repeat("y", 500))
		tagged := appendLine(t, c, "INBOX", m)
		switch {
		case strings.HasPrefix(tagged, "OK"):
			stored = append(stored, m)
			acked++
		default:
			wantFull(t, "APPEND", tagged)
			refused = true
		}
	}
	if !refused {
		t.Fatal("2000 appends on a full disk all succeeded")
	}
	t.Logf("%d small appends fitted in the database's free pages before the refusal", acked-3)
	// A large message needs a blob file.
	wantFull(t, "APPEND of a blob", appendLine(t, c, "INBOX", bigMessage("big3", 100<<10)))
	// COPY: every message, to another mailbox.
	if _, tagged, err := c.do("COPY 1:* Archive"); err != nil {
		t.Fatal(err)
	} else {
		wantFull(t, "COPY", tagged)
	}
	// LMTP: 452 4.3.1, so the MTA keeps the message and retries.
	err = lmtpTry(t, sb.addrs["lmtp"], bigMessage("lmtp-full", 100<<10))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Errorf("LMTP on a full disk: %v, want 452 4.3.1", err)
	}
	// tidemark deliver: exit 75 (EX_TEMPFAIL).
	dcmd := exec.Command(bin, "deliver", "--data", data, "--user", "joe")
	dcmd.Stdin = strings.NewReader(bigMessage("deliver-full", 100<<10))
	var derr bytes.Buffer
	dcmd.Stderr = &derr
	if err := dcmd.Run(); dcmd.ProcessState.ExitCode() != 75 {
		t.Errorf("deliver on a full disk: %v (%s), want exit 75", err, derr.String())
	} else if !strings.Contains(derr.String(), "storage full") {
		t.Errorf("deliver on a full disk says %q", derr.String())
	}

	// Reads go on: FETCH of every stored message, byte for byte, STATUS.
	for i, m := range stored {
		un, tagged, err := c.do(fmt.Sprintf("FETCH %d BODY.PEEK[]", i+1))
		if err != nil || !strings.HasPrefix(tagged, "OK") || len(un) == 0 || !strings.HasSuffix(un[0], fmt.Sprintf("{%d}", len(m))) {
			t.Fatalf("FETCH %d on a full disk: %q %q %v", i+1, un, tagged, err)
		}
	}
	if _, tagged, err := c.do("STATUS Archive (MESSAGES)"); err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("STATUS on a full disk: %q %v", tagged, err)
	}

	// A new session logs in and reads, on the full disk: its SELECT would
	// claim \Recent (a write), which must not cost the client its mailbox.
	late, err := imapclient.DialInsecure(sb.addrs["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if err := late.Login("joe", "secret-pass").Wait(); err != nil {
		t.Fatalf("LOGIN on a full disk: %v", err)
	}
	if sel, err := late.Select("Archive", nil).Wait(); err != nil || sel.NumMessages != 2 {
		t.Fatalf("SELECT on a full disk: %v %v", sel, err)
	}
	body := &imap.FetchItemBodySection{Peek: true}
	if msgs, err := late.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect(); err != nil || len(msgs) != 1 || string(msgs[0].FindBodySection(body)) != stored[1] {
		t.Fatalf("FETCH on a full disk: %v", err)
	}
	late.Logout().Wait()

	// Space returns: writes work again without a restart, and the client
	// in IDLE hears of them.
	releaseAll()
	release()
	drain(exists)
	if tagged := appendLine(t, c, "INBOX", bigMessage("after", 100<<10)); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("APPEND after space returned: %q", tagged)
	}
	stored = append(stored, bigMessage("after", 100<<10))
	select {
	case n := <-exists:
		if n != uint32(len(stored)) {
			t.Errorf("IDLE client told EXISTS %d, want %d", n, len(stored))
		}
	case <-time.After(hangDeadline):
		t.Fatal("the IDLE client heard nothing after the disk-full refusals")
	}
	if _, tagged, err := c.do("COPY 1:* Archive"); err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Errorf("COPY after space returned: %q %v", tagged, err)
	}
	if err := lmtpTry(t, sb.addrs["lmtp"], bigMessage("lmtp-after", 100<<10)); err != nil {
		t.Errorf("LMTP after space returned: %v", err)
	}
	stored = append(stored, "")
	dcmd = exec.Command(bin, "deliver", "--data", data, "--user", "joe")
	dcmd.Stdin = strings.NewReader(bigMessage("deliver-after", 100<<10))
	if out, err := dcmd.CombinedOutput(); err != nil {
		t.Errorf("deliver after space returned: %v %s", err, out)
	}
	stored = append(stored, "")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// What was acknowledged is intact, byte for byte, seen by another client.
	msgs, err := idler.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for i, fm := range msgs {
		if got := string(fm.FindBodySection(&imap.FetchItemBodySection{Peek: true})); got != stored[i] {
			t.Errorf("message %d changed: %d bytes, stored %d", i+1, len(got), len(stored[i]))
		}
	}
	st, err := idler.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if int(*st.NumMessages) != len(stored) {
		t.Errorf("INBOX holds %d messages, %d were acknowledged", *st.NumMessages, len(stored))
	}
	idler.Logout().Wait()

	sb.cmd.Process.Signal(syscall.SIGTERM)
	sb.cmd.Wait()
	<-logsDone
	if !fullLogged {
		t.Error("the server did not log the disk-full refusals")
	}
	if out, err := exec.Command(bin, "check", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("tidemark check after the disk was full: %v\n%s", err, out)
	}
}

func drain(ch <-chan uint32) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// noiseMessage is a message of about size bytes, a binary attachment of
// bytes from a generator seeded by seed: a body that compression cannot
// shrink much and the text index leaves out, so that what fills a disk is
// the mail itself.
func noiseMessage(subject string, size int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	raw := make([]byte, size*3/4)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.String()
}

// An import that fills the disk midway stops with a clear error, keeps the
// batches stored before it (and `tidemark check` finds them whole), and,
// run again once space returns, completes without duplicates.
func TestDiskFullImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	mnt := mountSmall(t, "32m")
	bin := buildTidemark(t)
	data := filepath.Join(mnt, "data")
	killTestDataIn(t, data)
	// 20 KiB each of noise, batches of 100: compression leaves them about
	// 15 KiB, so 5 MB left hold the first batch (with its rows and its
	// WAL frames), not all three. The text index is written behind the
	// batches and is not what fills the disk.
	const total = 300
	mbox := filepath.Join(t.TempDir(), "in.mbox")
	var b strings.Builder
	for i := range total {
		fmt.Fprintf(&b, "From sender@example.org Mon Jan  1 00:00:00 2024\n%s\n", strings.ReplaceAll(noiseMessage(fmt.Sprintf("imported %d", i), 20<<10, uint64(i)), "\r\n", "\n"))
	}
	if err := os.WriteFile(mbox, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	importOnce := func() (string, string, int) {
		cmd := exec.Command(bin, "import", "--data", data, "--user", "joe", "--mbox", mbox, "--mailbox", "Imported")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.Run()
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}
	count := func() int {
		t.Helper()
		file := filepath.Join(t.TempDir(), "out.mbox")
		cmd := exec.Command(bin, "export", "--data", data, "--user", "joe", "--mailbox", "Imported", "--mbox", file)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("export: %v %s", err, out)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(raw), "\nSubject: imported ")
	}

	release := fillDisk(t, mnt, 5<<20)
	out, errOut, code := importOnce()
	if code != 1 || !strings.Contains(errOut, "storage full") {
		t.Fatalf("import onto a disk that fills: exit %d, %q %q; want exit 1 saying the storage is full", code, out, errOut)
	}
	if n := count(); n == 0 || n >= total {
		t.Fatalf("after the disk filled: %d messages stored, want some of %d (the disk should fill midway)", n, total)
	} else {
		t.Logf("the disk filled after %d of %d messages: %s", n, total, strings.TrimSpace(errOut))
	}
	if out, err := exec.Command(bin, "check", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("tidemark check with the disk full: %v\n%s", err, out)
	}
	release()
	if out, errOut, code := importOnce(); code != 0 {
		t.Fatalf("import again with space: exit %d %q %q", code, out, errOut)
	}
	if n := count(); n != total {
		t.Fatalf("after the second import: %d messages, want %d", n, total)
	}
	if out, err := exec.Command(bin, "check", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("tidemark check: %v\n%s", err, out)
	}
}
