package server

import (
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/tidemark-mail/tidemark/internal/store"
)

var testDefaults = []store.DefaultMailbox{
	{Name: "Drafts", SpecialUse: `\Drafts`},
	{Name: "Sent", SpecialUse: `\Sent`},
	{Name: "Trash", SpecialUse: `\Trash`},
	{Name: "Junk", SpecialUse: `\Junk`},
	{Name: "Archive", SpecialUse: `\Archive`},
}

// A fresh account gets its special-use mailboxes at the first login, once
// even when two first logins race, subscribed and with their attributes
// (RFC 6154); one the user deletes stays deleted at the next login.
func TestDefaultMailboxesOnFirstLogin(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.DefaultMailboxes = testDefaults })
	a, b := e.dial(), e.dial()
	var wg sync.WaitGroup
	for _, c := range []*client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send("L1 LOGIN " + testUser + " " + testPass)
		}()
	}
	wg.Wait()
	a.expect(`^L1 OK \[CAPABILITY .*\] Logged in$`)
	b.expect(`^L1 OK \[CAPABILITY .*\] Logged in$`)
	want := []string{
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
	}
	a.mbxRun(`t1 LIST (SPECIAL-USE) "" "*"`, append(want, "t1 OK LIST completed")...)
	a.mbxRun(`t2 LSUB "" "*"`,
		`* LSUB () "/" Archive`, `* LSUB () "/" Drafts`, `* LSUB () "/" Junk`, `* LSUB () "/" Sent`, `* LSUB () "/" Trash`,
		"t2 OK LSUB completed")
	a.mbxRun(`t3 DELETE Junk`, "t3 OK DELETE completed")
	a.mbxRun(`t4 LOGOUT`, "* BYE Tidemark logging out", "t4 OK LOGOUT completed")

	// go-imap's client logs in again and finds Junk still gone.
	cl := dialImapClient(t, e)
	list, err := cl.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]imap.MailboxAttr{}
	for _, m := range list {
		got[m.Mailbox] = m.Attrs
	}
	if len(got) != 5 || got["Junk"] != nil || got["INBOX"] == nil {
		t.Fatalf("mailboxes after deleting Junk: %v", got)
	}
	if !hasAttr(got["Sent"], imap.MailboxAttrSent) || !hasAttr(got["Archive"], imap.MailboxAttrArchive) {
		t.Fatalf("attributes %v", got)
	}
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if x == a {
			return true
		}
	}
	return false
}

// Without defaults configured ([special_use] create = false) a fresh
// account has only INBOX.
func TestNoDefaultMailboxes(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial()
	c.login()
	c.mbxRun(`t1 LIST "" "*"`, `* LIST (\HasNoChildren) "/" INBOX`, "t1 OK LIST completed")
}
