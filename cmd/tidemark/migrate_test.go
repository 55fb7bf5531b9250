package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func runMigrateCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	code := migrateMain(context.Background(), args, stdin, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMigrateCommandErrors(t *testing.T) {
	dir := newDataDir(t, "alice")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	if code, _, errOut := runMigrateCmd(t, "--data", dir, "--user", "alice"); code != 2 || !strings.Contains(errOut, "usage:") {
		t.Fatalf("no --from: %d %s", code, errOut)
	}
	if code, _, errOut := runMigrateCmd(t, "--data", dir, "--user", "alice", "--from", "imap://bob:pw@example.org"); code != 2 || !strings.Contains(errOut, "not in the URL") {
		t.Fatalf("password in the URL: %d %s", code, errOut)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	code, _, errOut := runMigrateCmd(t, "--data", dir, "--user", "alice", "--password-file", pw, "--from", fmt.Sprintf("imap://bob@127.0.0.1:%d", port))
	if code != 1 || !strings.Contains(errOut, "cannot reach the source at 127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("unreachable: %d %s", code, errOut)
	}
}

// The command against the reference Dovecot (its own instance, so that it
// never disturbs the one internal/migrate's tests restart): a wrong
// password, then a copy, then a run with nothing to do.
func TestMigrateCommandDovecot(t *testing.T) {
	root := envOr("TIDEMARK_MIGRATE_CMD_DOVECOT_ROOT", "/tmp/dovecot-migrate-cmd")
	port := envOr("TIDEMARK_MIGRATE_CMD_DOVECOT_PORT", "11255")
	script := os.Getenv("TIDEMARK_DOVECOT_SCRIPT")
	if script == "" {
		script = filepath.Join("..", "..", "..", "shared", "refservers", "dovecot.sh")
	}
	cmd := exec.Command(script, "start")
	cmd.Env = append(os.Environ(), "DOVECOT_REF_ROOT="+root, "DOVECOT_REF_PORT="+port, "DOVECOT_REF_NUSERS=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("TIDEMARK_REQUIRE_DOVECOT") != "" || os.Getenv("TIDEMARK_CI") != "" {
			t.Fatalf("reference Dovecot: %v\n%s", err, out)
		}
		t.Skipf("reference Dovecot cannot start, skipping: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(root, "mail", "testuser1"))
	c, err := imapclient.DialInsecure("127.0.0.1:"+port, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("testuser1", "pass").Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i)
		a := c.Append("INBOX", int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		a.Write([]byte(body))
		a.Close()
		if _, err := a.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	dir := newDataDir(t, "alice")
	from := "imap://testuser1@127.0.0.1:" + port
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	if code, out, errOut := runMigrateCmd(t, "--data", dir, "--user", "alice", "--password-file", bad, "--from", from); code != 1 || !strings.Contains(errOut, "wrong user name or password") || out != "" {
		t.Fatalf("wrong password: %d %s%s", code, out, errOut)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pass\n"), 0o600)
	code, out, errOut := runMigrateCmd(t, "--data", dir, "--user", "alice", "--password-file", pw, "--from", from)
	if code != 0 || !strings.Contains(out, "5 messages copied") || !strings.Contains(out, "1 newly copied with the source's UIDVALIDITY and UIDs") {
		t.Fatalf("migrate: %d %s%s", code, out, errOut)
	}
	code, out, errOut = runMigrateCmd(t, "--data", dir, "--user", "alice", "--password-file", pw, "--from", from)
	if code != 0 || !strings.Contains(out, "0 messages copied") || !strings.Contains(out, "0 UID FETCH commands") {
		t.Fatalf("second run: %d %s%s", code, out, errOut)
	}
	if code, _, errOut := runMigrateCmd(t, "--data", dir, "--user", "nobody", "--password-file", pw, "--from", from); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Fatalf("unknown target user: %d %s", code, errOut)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
