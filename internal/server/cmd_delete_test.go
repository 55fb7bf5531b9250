package server

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Deleting the selected mailbox: the deleting session is told OK [CLOSED]
// and is back in the authenticated state; another session that has it
// selected is ended with BYE at its next sync point, or at once in IDLE.
func TestDeleteSelectedMailbox(t *testing.T) {
	e := newTestEnv(t, nil)
	mbxCreate(t, e.account(), "Work")
	e.appendMessages("Work", 2, store.Flags{})
	a := e.dial()
	a.loginRev2()
	b := e.dial()
	b.login()
	a.send("s1 SELECT Work")
	a.until("s1 OK")
	b.send("s2 SELECT Work")
	b.until("s2 OK")
	idler := e.dial()
	idler.login()
	idler.send("s3 SELECT Work")
	idler.until("s3 OK")
	idler.send("i IDLE")
	idler.expect(`^\+ `)

	a.mbxRun("d DELETE Work", "* OK [CLOSED] Selected mailbox deleted", "d OK DELETE completed")
	// IDLE hears of it at once.
	idler.expect(`^\* BYE Selected mailbox was deleted$`)
	idler.expectClosed()
	a.mbxRun("n NOOP", "n OK NOOP completed")
	a.mbxRun("f FETCH 1 (FLAGS)", "f BAD FETCH is not valid in the authenticated state")
	a.mbxRun(`l LIST "" *`, `* LIST (\HasNoChildren) "/" INBOX`, "l OK LIST completed")

	b.send("n NOOP")
	b.expect(`^\* BYE Selected mailbox was deleted$`)
	b.expectClosed()

	// A new mailbox of the same name is a new mailbox.
	a.mbxRun("c CREATE Work", "c OK CREATE completed")
	a.mbxRun("s STATUS Work (MESSAGES)", "* STATUS Work (MESSAGES 0)", "s OK STATUS completed")
}

// Deleting another mailbox, or renaming the selected one, leaves the
// selection alone.
func TestDeleteOrRenameWhileSelected(t *testing.T) {
	e := newTestEnv(t, nil)
	mbxCreate(t, e.account(), "Work", "Other")
	e.appendMessages("Work", 2, store.Flags{})
	c := e.dial()
	c.loginRev2()
	c.send("s SELECT Work")
	c.until("s OK")
	c.mbxRun("d DELETE Other", "d OK DELETE completed")
	c.mbxRun("r RENAME Work Projects/Work", "r OK RENAME completed")
	c.mbxRun("f FETCH 2 (UID)", "* 2 FETCH (UID 2)", "f OK FETCH completed")
	c.mbxRun("x STATUS Projects/Work (MESSAGES)", "* STATUS Projects/Work (MESSAGES 2)", "x OK STATUS completed")
}
