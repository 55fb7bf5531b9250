package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// waitTagged repeats cmd until its tagged response contains want.
func waitTagged(t *testing.T, ic *imapConn, cmd, want string) {
	t.Helper()
	pollIMAP(t, ic, cmd, fmt.Sprintf("answered %q", want), func(_ []string, tagged string) bool {
		return strings.Contains(tagged, want)
	})
}

// TestSharingReplicate: two `tidemark serve` replicating continuously,
// with ACL and URLAUTH offered on both. SETACL on A lets joe select
// alice's mailbox on B; DELETEACL on A makes joe's next command there NO
// [NOPERM]; a URL that GENURLAUTH made on A fetches on B, and RESETKEY
// on A voids it on B.
func TestSharingReplicate(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	var confs []string
	for _, n := range []struct{ name, imap, repl, peer string }{{"a", imapA, replA, replB}, {"b", imapB, replB, replA}} {
		dir := filepath.Join(root, n.name)
		confs = append(confs, replicaDir(t, dir, n.imap, n.repl, secret, n.peer))
		data := filepath.Join(dir, "data")
		addAccounts(t, data, "joe")
		st, err := sqlitestore.Open(data, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"alice", "joe"} {
			if err := st.CreateUser(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
	}
	startPair(t, bin, confs[0], confs[1])
	ca, cb := dialIMAPAs(t, imapA, "alice"), dialIMAPAs(t, imapB, "alice")
	if caps := strings.Join(cb.run("CAPABILITY"), " "); !strings.Contains(caps, " ACL") || !strings.Contains(caps, " URLAUTH") {
		t.Fatalf("B's capabilities: %s", caps)
	}
	ca.run("CREATE Team")
	body := "From: a@example.org\r\nSubject: team news\r\n\r\nhello\r\n"
	ca.run(fmt.Sprintf("APPEND Team {%d+}\r\n%s", len(body), body))
	ca.appendMsg(1)
	ca.run("SETACL Team joe lr")

	jb := dialIMAPAs(t, imapB, "joe")
	// The grant may arrive before the mail: ACLs go with the account
	// level, ahead of the mailboxes.
	waitUntil(t, jb, `SELECT "Other Users/alice/Team"`, "* 1 EXISTS")
	if out := jb.run("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"); !strings.Contains(strings.Join(out, "\n"), "team news") {
		t.Fatalf("joe's FETCH on B: %q", out)
	}
	// The same through the go-imap client.
	gc, err := imapclient.DialInsecure(imapB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if err := gc.Login("joe", "secret-pass").Wait(); err != nil {
		t.Fatal(err)
	}
	if sel, err := gc.Select("Other Users/alice/Team", nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Fatalf("go-imap SELECT on B: %+v, %v", sel, err)
	}

	ca.run("DELETEACL Team joe")
	waitTagged(t, jb, "UID SEARCH ALL", "NO [NOPERM]")
	_, err = gc.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeNoPerm {
		t.Fatalf("go-imap UID SEARCH on B after DELETEACL on A: %v", err)
	}

	gen := ca.run(`GENURLAUTH "imap://alice@example.org/INBOX/;uid=1;urlauth=user+alice" INTERNAL`)
	m := regexp.MustCompile(`^\* GENURLAUTH "([^"]+)"$`).FindStringSubmatch(strings.Join(gen, "\n"))
	if m == nil {
		t.Fatalf("GENURLAUTH on A: %q", gen)
	}
	url := m[1]
	waitUntil(t, cb, `URLFETCH "`+url+`"`, "Subject: message 1")
	ca.run("RESETKEY INBOX")
	waitUntil(t, cb, `URLFETCH "`+url+`"`, `"`+url+`" NIL`)
	if out := ca.run(`URLFETCH "` + url + `"`); !strings.Contains(strings.Join(out, "\n"), " NIL") {
		t.Fatalf("A still fetches the URL after its RESETKEY: %q", out)
	}
}
