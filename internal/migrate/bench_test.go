package migrate

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestMigrateFigures measures a migration from the reference Dovecot: a
// first run over a mailbox of N messages, an incremental run after 100
// changes (40 flag changes, 30 expunges, 30 new messages), a run with
// nothing changed, Dovecot's own cost of an EXAMINE, and a run after a flag
// was set and cleared again. It runs only when asked:
//
//	TIDEMARK_MIGRATE_FIGURES=10000 go test -run TestMigrateFigures -v ./internal/migrate
//
// The source mailbox is written as Maildir files (sizes 0.5 to 12 KB,
// average about 6 KB) and indexed by Dovecot before the clock starts.
func TestMigrateFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TIDEMARK_MIGRATE_FIGURES"))
	if n <= 0 {
		t.Skip("set TIDEMARK_MIGRATE_FIGURES=N to measure a migration of N messages")
	}
	d := startDovecot(t, "")
	src := "testuser7"
	d.resetUser(t, src)
	writeMaildir(t, filepath.Join(d.root, "mail", src), n)
	c := d.client(t, src)
	start := time.Now()
	if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Dovecot indexed %d messages in %s", n, time.Since(start).Round(time.Millisecond))

	st, a := newTarget(t)
	report := func(what string, s Stats) {
		t.Logf("%-18s %6d messages copied, %3d flag changes, %3d expunged in %8s (store %8s): %5.0f messages/s; "+
			"%.2f MB received, %.1f KB sent, %d EXAMINE, %d UID FETCH",
			what, s.Messages, s.FlagChanges, s.Expunged, s.Elapsed.Round(time.Millisecond), s.StoreTime.Round(time.Millisecond),
			float64(s.Messages)/s.Elapsed.Seconds(), float64(s.WireRead)/1e6, float64(s.WireWritten)/1e3, s.Examined, s.Fetches)
	}
	run := func() Stats {
		s, err := Run(context.Background(), st, "alice", d.source(src), Options{Password: "pass"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	report("first run", run())

	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var flagged imap.UIDSet
	for i := 0; i < 40; i++ {
		flagged.AddNum(imap.UID(1 + i*(n/40)))
	}
	if err := c.Store(flagged, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	var gone []imap.UID
	for i := 0; i < 30; i++ {
		gone = append(gone, imap.UID(2+i*(n/30)))
	}
	expungeUIDs(t, c, gone...)
	appendAll(t, c, "INBOX", makeMessages("INBOX", n, 30))
	report("after 100 changes", run())
	report("nothing changed", run())
	// What the source alone costs: a login and an EXAMINE of the mailbox
	// with go-imap's client, after a change (Dovecot then rereads its
	// Maildir) and with nothing changed.
	for _, what := range []string{"after a change", "nothing changed"} {
		if what == "after a change" {
			if err := c.Store(imap.UIDSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$Bench"}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		}
		start = time.Now()
		c2 := d.client(t, src)
		if _, err := c2.Select("INBOX", &imap.SelectOptions{ReadOnly: true, CondStore: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		t.Logf("source alone, %s: login and EXAMINE INBOX in %s", what, time.Since(start).Round(time.Millisecond))
		c2.Logout().Wait()
	}
	if err := c.Store(imap.UIDSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{"$Bench"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	report("flag set, cleared", run()) // nothing to copy: the target never saw the flag
	if n <= 20000 {
		assertSameMail(t, d, src, a, true)
	}
}

// writeMaildir writes n messages straight into a Dovecot user's Maildir,
// owned by the user Dovecot delivers as.
func writeMaildir(t testing.TB, home string, n int) {
	t.Helper()
	cur := filepath.Join(home, "Maildir", "cur")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(home, "Maildir", d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		size := 500 + (i*7919)%11500
		body := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: rcpt@example.org\r\nSubject: benchmark message %d\r\n"+
			"Message-ID: <bench.%d@example.org>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n\r\n", i, i%97, i, i)
		line := strings.Repeat("x", 70) + "\r\n"
		for len(body) < size {
			body += line
		}
		flags := ""
		if i%3 == 0 {
			flags = "S"
		}
		name := filepath.Join(cur, fmt.Sprintf("%d.M%dP1.bench:2,%s", base.Unix()+int64(i), i, flags))
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		when := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(name, when, when)
	}
	if os.Getuid() == 0 {
		if u, err := user.Lookup("vmail"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
				if err == nil {
					os.Lchown(p, uid, gid)
				}
				return nil
			})
		}
	}
}
