package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Import, migration and replication write through store.Replica; these
// tests run each with the PostgreSQL store on the receiving side.

// pgSection is a [store] section naming the PostgreSQL database dsn.
func pgSection(dsn string) string {
	return fmt.Sprintf("[store]\nkind = \"postgres\"\ndsn = %q\n", dsn)
}

// nodeConf writes a data directory with logins (password "secret-pass")
// for users and a configuration file with the given sections (a [store]
// section, a [replication] section) and plain IMAP on imapAddr. With
// mailStores, the embedded store of the data directory gets the users'
// mail stores too.
func nodeConf(t *testing.T, dir, imapAddr, sections string, mailStores bool, users ...string) string {
	t.Helper()
	conf, data := writeNodeConf(t, dir, fmt.Sprintf(`%s
[log]
format = "json"
[imap]
listen = %q
[imaps]
listen = ""
`, sections, imapAddr), users...)
	if mailStores {
		st, err := sqlitestore.Open(data, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if err := st.CreateUser(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
	}
	return conf
}

// openPG opens the PostgreSQL store named by dsn, as the commands do.
func openPG(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := openStore(context.Background(), config.Store{Kind: config.StorePostgres, DSN: dsn}, "", storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// inboxState returns the UIDVALIDITY, HIGHESTMODSEQ and messages of a
// user's INBOX.
func inboxState(t *testing.T, st store.Store, user string) (store.MailboxInfo, []store.MessageState) {
	t.Helper()
	ctx := context.Background()
	a, err := st.Open(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	in, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := a.Snapshot(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Mailbox, snap.Messages
}

// TestImportIntoPostgres: `tidemark import --config` into the PostgreSQL
// store, twice (the second adds nothing), then out again with export.
func TestImportIntoPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	conf := nodeConf(t, dir, "127.0.0.1:0", pgSection(dsn), false)
	data := filepath.Join(dir, "data")
	if err := openPG(t, dsn).CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join("..", "..", "internal", "mailimport", "testdata")
	run := func(main func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := main(ctx, args, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	imp := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return importMain(ctx, a, o, e) }
	exp := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return exportMain(ctx, a, o, e) }
	if code, out := run(imp, "--data", data, "--config", conf, "--user", "alice", "--mbox", filepath.Join(fixture, "tricky.mbox")); code != 0 || !strings.HasPrefix(out, "imported 4 messages") {
		t.Fatalf("import: exit %d: %s", code, out)
	}
	if code, out := run(imp, "--data", data, "--config", conf, "--user", "alice", "--mbox", filepath.Join(fixture, "tricky.mbox")); code != 0 || !strings.HasPrefix(out, "imported 0 messages") || !strings.Contains(out, "skipped 4 duplicates") {
		t.Fatalf("second import: exit %d: %s", code, out)
	}
	if code, out := run(imp, "--data", data, "--config", conf, "--user", "alice", "--maildir", filepath.Join(fixture, "maildir"), "--mailbox", "Old"); code != 0 || !strings.HasPrefix(out, "imported 7 messages") {
		t.Fatalf("maildir import: exit %d: %s", code, out)
	}
	mdir := filepath.Join(t.TempDir(), "Maildir")
	if code, out := run(exp, "--data", data, "--config", conf, "--user", "alice", "--maildir", mdir); code != 0 || !strings.HasPrefix(out, "exported 11 messages") {
		t.Fatalf("export: exit %d: %s", code, out)
	}
	if _, msgs := inboxState(t, openPG(t, dsn), "alice"); len(msgs) != 4 {
		t.Fatalf("INBOX holds %d messages, want 4", len(msgs))
	}
	if probs, err := openPG(t, dsn).(store.Checker).Check(ctx, "alice"); err != nil || len(probs) != 0 {
		t.Fatalf("check after import: %v, %v", probs, err)
	}
}

// TestMigrateIntoPostgres: `tidemark migrate` from a Tidemark server on the
// embedded store (over IMAP) into the PostgreSQL store keeps UIDVALIDITY,
// UIDs and flags; run again it copies nothing; a change at the source
// travels on the next run.
func TestMigrateIntoPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	srcConf := nodeConf(t, t.TempDir(), "127.0.0.1:0", "", true, "joe")
	src := startServe(t, bin, "--config", srcConf)
	src.waitLog("listening")
	cl := login(t, src.addrs["imap"], nil)
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)
		a := cl.Append("INBOX", int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		a.Write([]byte(body))
		a.Close()
		if _, err := a.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	srcStatus, err := cl.Status("INBOX", &imap.StatusOptions{UIDValidity: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}

	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	conf := nodeConf(t, dir, "127.0.0.1:0", pgSection(dsn), false)
	data := filepath.Join(dir, "data")
	if err := openPG(t, dsn).CreateUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret-pass\n"), 0o600)
	from := "imap://joe@" + src.addrs["imap"]
	code, out, errOut := runMigrateCmd(t, "--data", data, "--config", conf, "--user", "alice", "--password-file", pw, "--insecure", "--from", from)
	if code != 0 || !strings.Contains(out, "4 messages copied") {
		t.Fatalf("migrate: %d %s%s", code, out, errOut)
	}
	info, msgs := inboxState(t, openPG(t, dsn), "alice")
	var uids []store.UID
	for _, m := range msgs {
		uids = append(uids, m.UID)
		if m.Flags.System != store.FlagSeen {
			t.Errorf("UID %d flags %+v, want \\Seen", m.UID, m.Flags)
		}
	}
	if info.UIDValidity != srcStatus.UIDValidity || info.UIDNext != store.UID(srcStatus.UIDNext) || !slices.Equal(uids, []store.UID{1, 3, 4, 5}) {
		t.Fatalf("copy: UIDVALIDITY %d UIDNEXT %d UIDs %v; source UIDVALIDITY %d UIDNEXT %d",
			info.UIDValidity, info.UIDNext, uids, srcStatus.UIDValidity, srcStatus.UIDNext)
	}
	code, out, errOut = runMigrateCmd(t, "--data", data, "--config", conf, "--user", "alice", "--password-file", pw, "--insecure", "--from", from)
	if code != 0 || !strings.Contains(out, "0 messages copied") {
		t.Fatalf("second run: %d %s%s", code, out, errOut)
	}
	if err := cl.Store(imap.UIDSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runMigrateCmd(t, "--data", data, "--config", conf, "--user", "alice", "--password-file", pw, "--insecure", "--from", from)
	if code != 0 || !strings.Contains(out, "0 messages copied") || !strings.Contains(out, "1 flag changes") {
		t.Fatalf("third run: %d %s%s", code, out, errOut)
	}
	_, msgs = inboxState(t, openPG(t, dsn), "alice")
	if len(msgs) != 4 || msgs[2].UID != 4 || msgs[2].Flags.System != store.FlagSeen|store.FlagFlagged {
		t.Fatalf("after the flag change: %+v", msgs)
	}
}

// TestReplicationWithPostgres runs two servers replicating continuously,
// A on the embedded store and B on PostgreSQL. alice's mail exists on A
// only; B gets it (account and mail) by replication, with A's
// UIDVALIDITY, UIDs and modseqs, so a QRESYNC client gets the same answer
// from both; a change made on B comes back to A.
func TestReplicationWithPostgres(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	repl := func(listen, peer string) string {
		return fmt.Sprintf("[replication]\nlisten = %q\npeers = [%q]\nsecret_file = %q\n", listen, peer, secret)
	}
	dsn := pgtest.DSN(t)
	confA := nodeConf(t, filepath.Join(root, "a"), imapA, repl(replA, replB), true, "alice")
	confB := nodeConf(t, filepath.Join(root, "b"), imapB, pgSection(dsn)+repl(replB, replA), false, "alice")
	startPair(t, bin, confA, confB)

	ca := dialIMAP(t, imapA)
	resync, _, now, fromA := qresyncScript(t, ca)

	// B (PostgreSQL) catches up by itself. Its login exists; its mail
	// store is created by replication.
	deadline := time.Now().Add(30 * time.Second)
	var cb *imapConn
	for {
		st, err := inboxStatePG(dsn, "alice")
		if err == nil && fmt.Sprint(st) == now {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never reached HIGHESTMODSEQ %s (has %v, %v)", now, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cb = dialIMAP(t, imapB)
	fromB := cb.run(resync)
	if !slices.Equal(withoutRecent(fromA), withoutRecent(fromB)) {
		t.Fatalf("QRESYNC from A:\n%s\nfrom B:\n%s", strings.Join(fromA, "\n"), strings.Join(fromB, "\n"))
	}
	joined := strings.Join(withoutRecent(fromB), "\n")
	for _, want := range []string{"* VANISHED (EARLIER) 5\n", "* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ", "* 5 FETCH (UID 7 FLAGS () MODSEQ"} {
		if !strings.Contains(joined, want) {
			t.Errorf("resync from B lacks %q:\n%s", want, joined)
		}
	}

	// A change on B comes back to A.
	cb.run("SELECT INBOX")
	cb.run("STORE 1 -FLAGS (\\Flagged)")
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(strings.Join(ca.run("FETCH 1 (FLAGS)"), ""), "FLAGS ()") {
		if time.Now().After(deadline) {
			t.Fatal("B's flag change never reached A")
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command(bin, "check", "--data", filepath.Join(root, "b", "data"), "--config", confB).CombinedOutput()
	if err != nil {
		t.Fatalf("check of B: %v\n%s", err, out)
	}
}

// inboxStatePG reads alice's INBOX HIGHESTMODSEQ from the database, 0
// while the user or mailbox does not exist yet.
func inboxStatePG(dsn, user string) (store.ModSeq, error) {
	ctx := context.Background()
	st, err := openStore(ctx, config.Store{Kind: config.StorePostgres, DSN: dsn}, "", storeOptions{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	a, err := st.Open(ctx, user)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	in, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		return 0, err
	}
	return in.HighestModSeq, nil
}
