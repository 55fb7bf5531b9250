package server

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// shareWork makes joe's mailbox Work with two messages and grants bob
// rights on it.
func shareWork(t *testing.T, e *testEnv, rights string) *client {
	t.Helper()
	e.addUser("bob")
	joe := e.dial()
	joe.login()
	joe.send("w1 CREATE Work")
	joe.expect(`^w1 OK .*`)
	e.appendMessages("Work", 2, store.Flags{})
	joe.send("w2 SETACL Work bob " + rights)
	joe.expect(`^w2 OK .*`)
	return joe
}

// TestSharedMailbox: bob reaches joe's Work under the other users'
// namespace, with what his rights allow and nothing more; joe sees his
// changes; a right taken away is gone at bob's next command.
func TestSharedMailbox(t *testing.T) {
	e := newTestEnv(t, nil)
	joe := shareWork(t, e, "lrs")
	bob := e.dialAs("bob")

	bob.send(`l1 LIST "" *`)
	bob.expect(`^\* LIST \(\\HasNoChildren\) "/" INBOX$`, `^\* LIST \(\\HasNoChildren\) "/" "Other Users/joe/Work"$`, `^l1 OK .*`)
	bob.send(`l2 LIST "" "Other Users/%"`)
	bob.expect(`^\* LIST \(\\Noselect \\HasChildren\) "/" "Other Users/joe"$`, `^l2 OK .*`)
	bob.send(`l3 LIST "" "Other Users/joe/%" RETURN (MYRIGHTS STATUS (MESSAGES))`)
	bob.expect(`^\* LIST \(\\HasNoChildren\) "/" "Other Users/joe/Work"$`,
		`^\* MYRIGHTS "Other Users/joe/Work" lrs$`,
		`^\* STATUS "Other Users/joe/Work" \(MESSAGES 2\)$`, `^l3 OK .*`)
	bob.send(`m1 MYRIGHTS "Other Users/joe/Work"`)
	bob.expect(`^\* MYRIGHTS "Other Users/joe/Work" lrs$`, `^m1 OK .*`)
	bob.send(`m2 GETACL "Other Users/joe/Work"`)
	bob.expect(`^m2 NO \[NOPERM\] .*`)

	// joe watches Work in IDLE.
	joe.send("j1 SELECT Work")
	joe.until("j1 OK")
	joe.send("j2 IDLE")
	joe.expect(`^\+ .*`)

	bob.send(`s1 SELECT "Other Users/joe/Work"`)
	lines := bob.until("s1 OK")
	got := strings.Join(lines, "\n")
	for _, want := range []string{"* 2 EXISTS", `* OK [PERMANENTFLAGS (\Seen)]`, "s1 OK [READ-WRITE]"} {
		if !strings.Contains(got, want) {
			t.Errorf("SELECT lacks %q:\n%s", want, got)
		}
	}
	// FETCH BODY[] sets \Seen (bob has s), and joe sees it: \Seen is
	// shared.
	bob.send("f1 FETCH 1 BODY[]")
	bob.until("f1 OK")
	joe.expect(`^\* 1 FETCH \(FLAGS \(\\Seen\)\)$`)
	bob.send(`f2 STORE 1 +FLAGS (\Flagged)`)
	bob.expect(`^f2 NO \[NOPERM\] .*`)
	bob.send(`f3 STORE 2 +FLAGS (\Seen \Flagged)`)
	bob.expect(`^\* 2 FETCH \(FLAGS \(\\Seen\)\)$`, `^f3 OK .*`)
	joe.expect(`^\* 2 FETCH \(FLAGS \(\\Seen\)\)$`)
	// FLAGS sets what s covers (\Seen) and leaves the rest.
	bob.send(`f4 STORE 1 FLAGS (\Flagged)`)
	bob.expect(`^\* 1 FETCH \(FLAGS \(\)\)$`, `^f4 OK .*`)
	joe.expect(`^\* 1 FETCH \(FLAGS \(\)\)$`)
	bob.send(`f4b STORE 1 (UNCHANGEDSINCE 100) FLAGS (\Seen)`)
	bob.expect(`^f4b NO \[NOPERM\] .*`)
	bob.send("f5 EXPUNGE")
	bob.expect(`^f5 NO \[NOPERM\] .*`)
	bob.send(`f6 APPEND "Other Users/joe/Work" {5+}`)
	bob.send("hello")
	bob.expect(`^f6 NO \[NOPERM\] .*`)
	bob.send("f7 UID SEARCH SEEN")
	bob.expect(`^\* SEARCH 2$`, `^f7 OK .*`)

	// joe takes r away: bob's next command on Work is refused, and he
	// hears nothing more of it.
	joe.send("DONE")
	joe.until("j2 OK")
	joe.send("j3 SETACL Work bob -r")
	joe.expect(`^j3 OK .*`)
	bob.send("g1 FETCH 1 FLAGS")
	bob.expect(`^g1 NO \[NOPERM\] .*withdrawn.*`)
	bob.send("g2 NOOP")
	bob.expect(`^g2 OK .*`)
	bob.send(`g3 STATUS "Other Users/joe/Work" (MESSAGES)`)
	bob.expect(`^g3 NO \[NOPERM\] .*`)
	bob.send("g4 CLOSE")
	bob.expect(`^g4 OK .*`)
	bob.send(`g5 SELECT "Other Users/joe/Work"`)
	bob.expect(`^g5 NO \[NOPERM\] .*`)

	// Without any right, the mailbox is gone for bob.
	joe.send("j4 DELETEACL Work bob")
	joe.expect(`^j4 OK .*`)
	bob.send(`h1 LIST "" *`)
	bob.expect(`^\* LIST \(\\HasNoChildren\) "/" INBOX$`, `^h1 OK .*`)
	bob.send(`h2 STATUS "Other Users/joe/Work" (MESSAGES)`)
	bob.expect(`^h2 NO \[NONEXISTENT\] .*`)
}

// TestSharedWrites: with lrswite bob appends, copies in and out, moves,
// flags and expunges in joe's mailbox; quota and ownership stay joe's,
// and joe's session learns of each change.
func TestSharedWrites(t *testing.T) {
	e := newTestEnv(t, nil)
	joe := shareWork(t, e, "lrswite")
	bob := e.dialAs("bob")
	joe.send("j1 SELECT Work")
	joe.until("j1 OK")

	bob.send(`a1 APPEND "Other Users/joe/Work" (\Flagged \Draft) {5+}`)
	bob.send("hello")
	bob.expect(`^a1 OK \[APPENDUID \d+ 3\] .*`)
	bob.send(`a2 SELECT "Other Users/joe/Work"`)
	bob.until("a2 OK [READ-WRITE]")
	bob.send(`a3 UID COPY 1:2 INBOX`)
	bob.expect(`^a3 OK \[COPYUID \d+ 1:2 1:2\] .*`)
	bob.send(`a4 STORE 3 +FLAGS (\Deleted)`)
	bob.expect(`^\* 3 FETCH \(FLAGS \(\\Flagged \\Deleted \\Draft\)\)$`, `^a4 OK .*`)
	bob.send("a5 EXPUNGE")
	bob.expect(`^\* 3 EXPUNGE$`, `^a5 OK .*`)
	bob.send(`a6 UID MOVE 2 INBOX`)
	bob.expect(`^\* OK \[COPYUID \d+ 2 3\] .*`, `^\* 2 EXPUNGE$`, `^a6 OK .*`)
	bob.send(`a7 SELECT INBOX`)
	bob.until("a7 OK")
	bob.send(`a8 UID MOVE 1 "Other Users/joe/Work"`)
	bob.expect(`^\* OK \[COPYUID \d+ 1 4\] .*`, `^\* 1 EXPUNGE$`, `^a8 OK .*`)
	bob.send(`a9 COPY 1 "Other Users/joe/Work"`)
	bob.expect(`^a9 OK \[COPYUID \d+ 2 5\] .*`)

	joe.send("j2 NOOP")
	lines := strings.Join(joe.until("j2 OK"), "\n")
	for _, want := range []string{"EXPUNGE", "EXISTS"} {
		if !strings.Contains(lines, want) {
			t.Errorf("joe's session was not told %s:\n%s", want, lines)
		}
	}
	joe.send("j3 UID FETCH 1:* (FLAGS)")
	joe.expect(`^\* 1 FETCH \(UID 1 FLAGS \(\)\)$`, `^\* 2 FETCH \(UID 4 FLAGS \((\\Recent)?\)\)$`, `^\* 3 FETCH \(UID 5 FLAGS \((\\Recent)?\)\)$`, `^j3 OK .*`)
	joe.send(`j4 STATUS INBOX (MESSAGES)`)
	joe.expect(`^\* STATUS INBOX \(MESSAGES 0\)$`, `^j4 OK .*`)
}

// TestSharedQuotaIsOwners: an APPEND to a shared mailbox counts against
// the owner's quota, not the writer's.
func TestSharedQuotaIsOwners(t *testing.T) {
	q := &ownerQuota{limited: "joe"}
	e := newTestEnv(t, func(c *Config) { c.Quota = q })
	shareWork(t, e, "lri")
	bob := e.dialAs("bob")
	bob.send(`q1 APPEND "Other Users/joe/Work" {5+}`)
	bob.send("hello")
	bob.expect(`^q1 NO \[OVERQUOTA\] .*`)
	bob.send(`q2 APPEND INBOX {5+}`)
	bob.send("hello")
	bob.expect(`^q2 OK .*`)
}

// ownerQuota refuses every addition to one user's store.
type ownerQuota struct{ limited string }

func (q *ownerQuota) CheckQuota(_ context.Context, user string, _, _ int64) error {
	if user == q.limited {
		return store.ErrOverQuota
	}
	return nil
}

// TestSharedImapclient drives ACL through go-imap v2's client: SetACL,
// GetACL and MyRights, then the other user lists and selects.
func TestSharedImapclient(t *testing.T) {
	e := newTestEnv(t, nil)
	e.addUser("bob")
	cl := dialImapClient(t, e)
	if err := cl.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetACL("Work", "bob", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetACL("Work", "bob", imap.RightModificationAdd, imap.RightSet("s")).Wait(); err != nil {
		t.Fatal(err)
	}
	acl, err := cl.GetACL("Work").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if acl.Mailbox != "Work" || string(acl.Rights["bob"]) != "lrs" || string(acl.Rights["joe"]) != "lrswipkxteacd" {
		t.Fatalf("GETACL %+v", acl)
	}
	my, err := cl.MyRights("Work").Wait()
	if err != nil || string(my.Rights) != "lrswipkxteacd" {
		t.Fatalf("MYRIGHTS %+v, %v", my, err)
	}
	if err := cl.SetACL("Work", "nobody", imap.RightModificationReplace, imap.RightSet("l")).Wait(); err == nil {
		t.Fatal("SETACL for a user who does not exist succeeded")
	}

	bob, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Login("bob", testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := bob.Namespace().Wait()
	if err != nil || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" {
		t.Fatalf("namespace %+v, %v", ns, err)
	}
	list, err := bob.List("", "Other Users/*", nil).Collect()
	if err != nil || len(list) != 1 || list[0].Mailbox != "Other Users/joe/Work" {
		t.Fatalf("LIST %+v, %v", list, err)
	}
	mine, err := bob.MyRights("Other Users/joe/Work").Wait()
	if err != nil || string(mine.Rights) != "lrs" {
		t.Fatalf("bob's MYRIGHTS %+v, %v", mine, err)
	}
	sel, err := bob.Select("Other Users/joe/Work", nil).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Fatalf("SELECT %+v, %v", sel, err)
	}
	if _, err := bob.GetACL("Other Users/joe/Work").Wait(); err == nil {
		t.Fatal("GETACL without the a right succeeded")
	}
}

// TestSharedRevokedInIdle: bob idles on joe's mailbox; joe takes the read
// right away and bob is told at once, then hears no more of it.
func TestSharedRevokedInIdle(t *testing.T) {
	e := newTestEnv(t, nil)
	joe := shareWork(t, e, "lr")
	bob := e.dialAs("bob")
	bob.send(`i1 EXAMINE "Other Users/joe/Work"`)
	bob.until("i1 OK")
	bob.send("i2 IDLE")
	bob.expect(`^\+ .*`)
	e.appendMessages("Work", 1, store.Flags{})
	bob.expect(`^\* 3 EXISTS$`, `^\* 0 RECENT$`)
	joe.send("j1 SETACL Work bob l")
	joe.expect(`^j1 OK .*`)
	bob.expect(`^\* NO \[NOPERM\] Access to the selected mailbox was withdrawn$`)
	e.appendMessages("Work", 1, store.Flags{})
	bob.send("DONE")
	bob.expect(`^i2 OK .*`) // no EXISTS for the fourth message
	bob.send("i3 UID FETCH 1:* FLAGS")
	bob.expect(`^i3 NO \[NOPERM\] .*`)
}

// TestSharedIsolation: carol, to whom joe granted nothing, can neither
// see, name nor reach joe's mailboxes by any command, even when bob has
// rights on them; and nobody makes own mailboxes under the prefix.
func TestSharedIsolation(t *testing.T) {
	e := newTestEnv(t, nil)
	joe := shareWork(t, e, "lrswipkxtea")
	e.addUser("carol")
	carol := e.dialAs("carol")
	carol.send("a APPEND INBOX {5+}")
	carol.send("hello")
	carol.expect(`^a OK .*`)
	for _, pat := range []string{"*", "%", "Other Users/*", "Other Users/%", "Other Users/joe/*", "*Work*", "Other*"} {
		carol.send(`l LIST "" "` + pat + `"`)
		for _, l := range carol.until("l OK") {
			if strings.Contains(l, "joe") || strings.Contains(l, "Work") || strings.Contains(l, "Other") {
				t.Errorf("LIST %q shows %q", pat, l)
			}
		}
	}
	carol.send(`l2 LIST (SUBSCRIBED) "" "*" RETURN (MYRIGHTS STATUS (MESSAGES))`)
	carol.expect(`^l2 OK .*`)
	for _, name := range []string{"Other Users/joe/Work", "Other Users/joe/INBOX", "Other Users/Joe/Work", "Other Users/joe/work"} {
		q := `"` + name + `"`
		for _, cmd := range []string{
			"SELECT " + q, "EXAMINE " + q, "STATUS " + q + " (MESSAGES)", "DELETE " + q,
			"GETACL " + q, "MYRIGHTS " + q, "SETACL " + q + " carol lr", "DELETEACL " + q + " carol",
			"LISTRIGHTS " + q + " carol", "RENAME " + q + ` "Other Users/joe/Mine"`,
		} {
			carol.send("x " + cmd)
			carol.expect(`^x NO \[NONEXISTENT\] .*`)
		}
		carol.send("y APPEND " + q + " {5+}")
		carol.send("hello")
		carol.expect(`^y NO \[TRYCREATE\] .*`)
		carol.send("z SELECT INBOX")
		carol.until("z OK")
		carol.send("z1 COPY 1 " + q)
		carol.expect(`^z1 NO \[TRYCREATE\] .*`)
		carol.send("z2 MOVE 1 " + q)
		carol.expect(`^z2 NO \[TRYCREATE\] .*`)
		carol.send("z3 UNSELECT")
		carol.expect(`^z3 OK .*`)
	}
	for _, cmd := range []string{`CREATE "Other Users/joe/Mine"`, `CREATE "Other Users/carol/Mine"`, `CREATE "Other Users"`, `RENAME INBOX "Other Users/x"`} {
		carol.send("c " + cmd)
		carol.expect(`^c NO \[(CANNOT|NOPERM|NONEXISTENT)\] .*`)
	}
	// URLs name the user's own mail only.
	for _, url := range []string{
		"imap://joe@localhost/Work;UIDVALIDITY=1/;UID=1",
		"/Other%20Users/joe/Work/;UID=1",
		"imap://carol@localhost/Other%20Users/joe/Work/;UID=1",
	} {
		carol.send(`u APPEND INBOX CATENATE (URL "` + url + `")`)
		carol.expect(`^u NO \[BADURL .*`)
	}
	// Nothing reached joe's mailbox.
	joe.send(`s STATUS Work (MESSAGES)`)
	joe.expect(`^\* STATUS Work \(MESSAGES 2\)$`, `^s OK .*`)
	joe.send(`s2 LIST "" *`)
	joe.expect(`^\* LIST \(\\HasNoChildren\) "/" INBOX$`, `^\* LIST \(\\HasNoChildren\) "/" Work$`, `^s2 OK .*`)
}

// TestSharedNotify: with NOTIFY SELECTED, bob hears of messages joe adds
// to and expunges from the shared mailbox between commands, as for his
// own; and is told when the read right goes.
func TestSharedNotify(t *testing.T) {
	e := newTestEnv(t, nil)
	joe := shareWork(t, e, "lr")
	bob := e.dialAs("bob")
	bob.send(`a SELECT "Other Users/joe/Work"`)
	bob.until("a OK")
	bob.send(`b NOTIFY SET (selected (MessageNew (UID) MessageExpunge))`)
	bob.expect(`^b OK .*`)
	e.appendMessages("Work", 1, store.Flags{})
	bob.expect(`^\* 3 EXISTS$`, `^\* 0 RECENT$`, `^\* 3 FETCH \(UID 3\)$`)
	joe.send("j1 SELECT Work")
	joe.until("j1 OK")
	joe.send(`j2 STORE 1 +FLAGS.SILENT (\Deleted)`)
	joe.expect(`^j2 OK .*`)
	joe.send("j3 EXPUNGE")
	joe.until("j3 OK")
	bob.expect(`^\* 1 EXPUNGE$`)
	joe.send("j4 SETACL Work bob l")
	joe.expect(`^j4 OK .*`)
	bob.expect(`^\* NO \[NOPERM\] Access to the selected mailbox was withdrawn$`)
}

// TestSharedLsub: a subscribed shared mailbox is listed by LSUB and LIST
// (SUBSCRIBED) while it is shared, and as a name without a mailbox once
// it is not.
func TestSharedLsub(t *testing.T) {
	e := newTestEnv(t, nil)
	joe := shareWork(t, e, "lr")
	bob := e.dialAs("bob")
	bob.send(`a SUBSCRIBE "Other Users/joe/Work"`)
	bob.expect(`^a OK .*`)
	bob.send(`b LSUB "" *`)
	bob.expect(`^\* LSUB \(\) "/" "Other Users/joe/Work"$`, `^b OK .*`)
	bob.send(`c LIST (SUBSCRIBED) "" "Other Users/*"`)
	bob.expect(`^\* LIST \(\\HasNoChildren \\Subscribed\) "/" "Other Users/joe/Work"$`, `^c OK .*`)
	joe.send("j DELETEACL Work bob")
	joe.expect(`^j OK .*`)
	bob.send(`d LSUB "" *`)
	bob.expect(`^\* LSUB \(\) "/" "Other Users/joe/Work"$`, `^d OK .*`) // a name, as for an own mailbox gone
	bob.send(`e LIST (SUBSCRIBED) "" "Other Users/*"`)
	bob.expect(`^\* LIST \(\\NonExistent \\HasNoChildren \\Subscribed\) "/" "Other Users/joe/Work"$`, `^e OK .*`)
}
