package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

func TestStatusItems(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial()
	c.login()
	// SIZE (RFC 9051 6.3.11) is the sum of the messages' RFC822.SIZE: the
	// bytes appended, counted here from the literals sent.
	bodies := []string{
		"From: a@example.org\r\nSubject: one\r\n\r\nfirst body\r\n",
		"From: b@example.org\r\nSubject: two\r\n\r\na somewhat longer second body\r\n",
		"Subject: three\r\n\r\n3\r\n",
	}
	flags := []string{"", "", `(\Seen \Deleted) `}
	size := 0
	for i, b := range bodies {
		c.send(fmt.Sprintf("p%d APPEND INBOX %s{%d+}", i, flags[i], len(b)))
		c.send(b) // the literal, then the CRLF ending the command
		c.expect(fmt.Sprintf(`^p%d OK \[APPENDUID `, i))
		size += len(b)
	}
	a := e.account()
	st := mbxStatus(t, a, "INBOX")
	// RECENT: no session has selected INBOX since the APPENDs.
	c.mbxRun("a STATUS inbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT MAILBOXID)",
		fmt.Sprintf("* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY %d UNSEEN 2 DELETED 1 SIZE %d RECENT 3 HIGHESTMODSEQ %d APPENDLIMIT %d MAILBOXID (%s))",
			st.UIDValidity, size, st.HighestModSeq, wire.DefaultLimits.MaxAppendLiteral, MailboxObjectID(st.MailboxInfo)),
		"a OK STATUS completed")
	// Items come back in the order asked, in any case.
	c.mbxRun("b STATUS INBOX (unseen messages)", "* STATUS INBOX (UNSEEN 2 MESSAGES 3)", "b OK STATUS completed")
	// Expunging the \Deleted message takes its bytes off.
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("x EXPUNGE")
	c.until("x OK")
	c.mbxRun("d STATUS INBOX (MESSAGES DELETED SIZE)",
		fmt.Sprintf("* STATUS INBOX (MESSAGES 2 DELETED 0 SIZE %d)", size-len(bodies[2])),
		"d OK STATUS completed")
}

func TestStatusAppendLimitFromConfig(t *testing.T) {
	e := newTestEnv(t, func(cfg *Config) { cfg.Limits.MaxAppendLiteral = 12345 })
	c := e.dial()
	c.login()
	c.mbxRun("a STATUS INBOX (APPENDLIMIT)", "* STATUS INBOX (APPENDLIMIT 12345)", "a OK STATUS completed")
}

// STATUS of the selected mailbox reads the store and leaves the view
// alone: the new message is announced by the sync point, as EXISTS.
func TestStatusSelectedMailbox(t *testing.T) {
	e := newTestEnv(t, nil)
	e.appendMessages("INBOX", 2, store.Flags{})
	c := e.dial()
	c.loginRev2()
	c.send("s SELECT INBOX")
	c.until("s OK")
	e.appendMessages("INBOX", 1, store.Flags{})
	c.mbxRun("a STATUS INBOX (MESSAGES UNSEEN)",
		"* STATUS INBOX (MESSAGES 3 UNSEEN 3)",
		"* 3 EXISTS",
		"a OK STATUS completed")
	c.mbxRun("b FETCH 3 (UID)", "* 3 FETCH (UID 3)", "b OK FETCH completed")
}

// STATUS (HIGHESTMODSEQ) enables CONDSTORE (RFC 7162 3.1): afterwards
// flag changes carry MODSEQ.
func TestStatusHighestModSeqEnablesCondstore(t *testing.T) {
	e := newTestEnv(t, nil)
	res := e.appendMessages("INBOX", 1, store.Flags{})
	a := e.account()
	c := e.dial()
	c.login()
	c.mbxRun("a STATUS INBOX (HIGHESTMODSEQ)", fmt.Sprintf("* STATUS INBOX (HIGHESTMODSEQ %d)", res.ModSeq), "a OK STATUS completed")
	c.send("s SELECT INBOX")
	c.until("s OK")
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	fr, err := a.SetFlags(context.Background(), mb.ID, store.UIDSetOf(res.UIDs...), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.send("n NOOP")
	got := c.until("n OK")
	if len(got) != 2 || !strings.Contains(got[0], fmt.Sprintf("MODSEQ (%d)", fr.ModSeq)) {
		t.Fatalf("after NOOP: %q", got)
	}
}

func mbxStatus(t *testing.T, a store.Account, name string) store.MailboxStatus {
	t.Helper()
	mb, err := a.Mailbox(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Status(context.Background(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The first STATUS (HIGHESTMODSEQ) with a mailbox selected reports that
// mailbox's HIGHESTMODSEQ (RFC 7162 3.1); later ones do not.
func TestStatusHighestModSeqWhileSelected(t *testing.T) {
	e := newTestEnv(t, nil)
	res := e.appendMessages("INBOX", 1, store.Flags{})
	mbxCreate(t, e.account(), "Other")
	other := mbxStatus(t, e.account(), "Other")
	c := e.dial()
	c.loginRev2()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.mbxRun("a STATUS Other (HIGHESTMODSEQ)",
		fmt.Sprintf("* OK [HIGHESTMODSEQ %d] Highest", res.ModSeq),
		fmt.Sprintf("* STATUS Other (HIGHESTMODSEQ %d)", other.HighestModSeq),
		"a OK STATUS completed")
	c.mbxRun("b STATUS Other (HIGHESTMODSEQ)",
		fmt.Sprintf("* STATUS Other (HIGHESTMODSEQ %d)", other.HighestModSeq),
		"b OK STATUS completed")
}
