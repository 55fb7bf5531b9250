package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

var reSelectState = regexp.MustCompile(`\[(UIDVALIDITY|HIGHESTMODSEQ) (\d+)\]`)

// selectState returns the UIDVALIDITY and HIGHESTMODSEQ a SELECT's (or
// QRESYNC SELECT's) untagged lines announce, and those lines.
func selectState(t *testing.T, c *lineClient, cmd string) (uidv, hms uint64, lines []string) {
	t.Helper()
	lines = c.mustOK(t, cmd)
	for _, l := range lines {
		if m := reSelectState.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[2], 10, 64)
			if m[1] == "UIDVALIDITY" {
				uidv = v
			} else {
				hms = v
			}
		}
	}
	return uidv, hms, lines
}

// TestPostgresBackupRestoreFloor: `tidemark backup` dumps a PostgreSQL
// store while it serves; the client then sees more changes; `tidemark
// restore` loads the older dump into an empty database and raises the
// floor. The client, presenting its newer state in a QRESYNC SELECT, is
// told a new UIDVALIDITY (it drops its cache: it is never told that the
// restored mailbox is the one it knew) and a HIGHESTMODSEQ above any it
// saw. The same dump loaded without the raise would have told it both
// lies, which the test checks too. Raising refuses while a front end is
// connected.
func TestPostgresBackupRestoreFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump is not installed")
	}
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	pgCreateUsers(t, dsn, "joe")
	bin := buildTidemark(t)
	node := func(dsn string) (conf string, sb *servedBinary) {
		conf, _ = writeNodeConf(t, t.TempDir(), fmt.Sprintf("[store]\nkind = \"postgres\"\ndsn = %q\n[log]\nformat = \"json\"\n[imap]\nlisten = \"127.0.0.1:0\"\n[imaps]\nlisten = \"\"\n", dsn), "joe")
		sb = startServe(t, bin, "--config", conf)
		sb.waitLog("listening")
		go func() {
			for range sb.logs {
			}
		}()
		return conf, sb
	}
	stop := func(sb *servedBinary) {
		sb.cmd.Process.Signal(syscall.SIGTERM)
		if err := sb.cmd.Wait(); err != nil {
			t.Fatalf("serve exit: %v", err)
		}
	}
	appendN := func(c *lineClient, what string, n int) {
		for i := range n {
			m := fmt.Sprintf("Subject: %s %d\r\n\r\nbody\r\n", what, i)
			c.mustOK(t, fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m))
		}
	}

	conf, sb := node(dsn)
	c := dialLines(t, sb.addrs["imap"])
	c.mustOK(t, "ENABLE QRESYNC")
	appendN(c, "before", 3)
	backup := filepath.Join(t.TempDir(), "backup")
	t.Log(strings.TrimSpace(runBin(t, bin, "backup", "--config", conf, "--to", backup)))

	// After the backup the client sees new mail, a flag change and an
	// expunge, and remembers the state.
	appendN(c, "after", 2)
	c.mustOK(t, "SELECT INBOX")
	c.mustOK(t, `STORE 1 +FLAGS (\Flagged)`)
	c.mustOK(t, `STORE 2 +FLAGS (\Deleted)`)
	c.mustOK(t, "EXPUNGE")
	uidv, hms, _ := selectState(t, c, "SELECT INBOX")
	stop(sb)

	// The dump alone brings the older state back, lies included.
	plain := pgtest.DSN(t)
	if out, err := exec.Command("pg_restore", "--exit-on-error", "--no-owner", "--dbname", plain, filepath.Join(backup, "default.pgdump")).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	st, err := pgstore.Open(ctx, plain, pgstore.Options{NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(ctx, "joe")
	if err != nil {
		t.Fatal(err)
	}
	old, err := a.Mailbox(ctx, "INBOX")
	a.Close()
	st.Close()
	if err != nil || uint64(old.UIDValidity) != uidv || uint64(old.HighestModSeq) >= hms {
		t.Fatalf("the dump restored without the raise: %+v, %v; the client knows UIDVALIDITY %d HIGHESTMODSEQ %d", old, err, uidv, hms)
	}

	// tidemark restore into an empty database raises the floor.
	fresh := pgtest.DSN(t)
	conf2, _ := writeNodeConf(t, t.TempDir(), fmt.Sprintf("[store]\nkind = \"postgres\"\ndsn = %q\n", fresh))
	t.Log(strings.TrimSpace(runBin(t, bin, "restore", "--config", conf2, "--from", backup)))
	// The logins are in the dump: the restored database has joe's, read
	// through a data directory that never held an accounts.db.
	if names := strings.Fields(runBin(t, bin, "user", "list", "--config", conf2, "--data", t.TempDir())); len(names) != 1 || names[0] != "joe" {
		t.Errorf("accounts after the restore: %q, want joe from the dump", names)
	}
	_, sb = node(fresh)
	defer stop(sb)
	if out, err := exec.Command(bin, "restore", "--config", conf2, "--raise-floor").CombinedOutput(); err == nil || !strings.Contains(string(out), "other sessions") {
		t.Errorf("raising the floor while a front end runs: %v\n%s", err, out)
	}
	c = dialLines(t, sb.addrs["imap"])
	c.mustOK(t, "ENABLE QRESYNC")
	uidv2, hms2, lines := selectState(t, c, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:5))", uidv, hms))
	if uidv2 == 0 || uidv2 == uidv {
		t.Errorf("after the restore the client is told UIDVALIDITY %d (it knew %d): %q", uidv2, uidv, lines)
	}
	if hms2 <= hms {
		t.Errorf("after the restore HIGHESTMODSEQ %d, not above %d the client saw", hms2, hms)
	}
	for _, l := range lines {
		if strings.Contains(l, "VANISHED") {
			t.Errorf("a resync against the old UIDVALIDITY: %q", l)
		}
	}
	if n, _, _, _ := boxStatus(t, c, "INBOX"); n != 3 {
		t.Errorf("%d messages after the restore, the backup had 3", n)
	}
}
