package server

import (
	"context"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// mailboxStatus reads a mailbox's counters from the store.
func (e *testEnv) mailboxStatus(name string) store.MailboxStatus {
	e.t.Helper()
	a := e.account()
	mb, err := a.Mailbox(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := a.Status(context.Background(), mb.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *testEnv) createMailbox(name string) store.MailboxInfo {
	e.t.Helper()
	mb, err := e.account().CreateMailbox(context.Background(), name, store.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return mb
}

func TestCopy(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 4, store.Flags{System: store.FlagSeen})
	dst := env.createMailbox("Archive")
	v := itoa(dst.UIDValidity)
	c := env.selectInbox()

	c.send("a COPY 2:4 Archive")
	c.expect(`^a OK \[COPYUID ` + v + ` 2:4 1:3\] COPY completed$`)
	c.send("b UID COPY 1,3 Archive")
	c.expect(`^b OK \[COPYUID ` + v + ` 1,3 4:5\] UID COPY completed$`)
	if st := env.mailboxStatus("Archive"); st.Messages != 5 || st.Unseen != 0 {
		t.Fatalf("Archive status %+v (flags must be kept)", st)
	}
	// No message in the set: OK without COPYUID (RFC 9051 6.3.12 example).
	c.send("c UID COPY 100:200 Archive")
	c.expect(`^c OK No messages copied$`)
	c.send("d COPY 1 Nowhere")
	c.expect(`^d NO \[TRYCREATE\] No such mailbox$`)
	c.send("e COPY 9 Archive")
	c.expect(`^e BAD Invalid message sequence number$`)

	// Into the selected mailbox: the copies arrive as EXISTS.
	in := env.mailboxStatus("INBOX")
	c.send("f COPY 1 INBOX")
	c.expect(`^\* 5 EXISTS$`, `^\* 1 RECENT$`, `^f OK \[COPYUID `+itoa(in.UIDValidity)+` 1 5\] COPY completed$`)

	// COPY from a read-only mailbox is fine.
	c.send("g EXAMINE INBOX")
	c.until("g OK")
	c.send("h COPY 1 Archive")
	c.expect(`^h OK \[COPYUID ` + v + ` 1 6\] COPY completed$`)
}
