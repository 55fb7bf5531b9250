package server

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// RFC 9051 6.3.4-6.3.6 examples, adapted to Tidemark's store: a deleted
// parent of an existing child is a name without a mailbox (\NonExistent
// to IMAP4rev2, \Noselect to IMAP4rev1), not a \Noselect mailbox.
func TestCreateDeleteRenameRFCExamples(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial()
	c.login()
	c.mbxRun("A003 CREATE owatagusiam/", "A003 OK CREATE completed")
	c.mbxRun("A004 CREATE owatagusiam/blurdybloop", "A004 OK CREATE completed")
	c.mbxRun(`A005 LIST "" *`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" owatagusiam`,
		`* LIST (\HasNoChildren) "/" owatagusiam/blurdybloop`,
		"A005 OK LIST completed")

	c.mbxRun("B1 CREATE blurdybloop", "B1 OK CREATE completed")
	c.mbxRun("B2 CREATE foo/bar", "B2 OK CREATE completed")
	c.mbxRun("A683 DELETE blurdybloop", "A683 OK DELETE completed")
	c.mbxRun("A684 DELETE foo", "A684 OK DELETE completed")
	c.mbxRun(`A85 LIST "" foo*`, `* LIST (\HasNoChildren) "/" foo/bar`, "A85 OK LIST completed")
	c.mbxRun(`A86 LIST "" %`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\Noselect \HasChildren) "/" foo`,
		`* LIST (\HasChildren) "/" owatagusiam`,
		"A86 OK LIST completed")
	c.mbxRun("B3 DELETE foo", "B3 NO [NONEXISTENT] No such mailbox")

	// RENAME: the subtree moves, missing parents appear.
	c.mbxRun("A683 RENAME owatagusiam sarasoop", "A683 OK RENAME completed")
	c.mbxRun("A684 RENAME foo/bar zowie/bar", "A684 OK RENAME completed")
	c.mbxRun(`A685 LIST "" *`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" sarasoop`,
		`* LIST (\HasNoChildren) "/" sarasoop/blurdybloop`,
		`* LIST (\HasChildren) "/" zowie`,
		`* LIST (\HasNoChildren) "/" zowie/bar`,
		"A685 OK LIST completed")

	// Renaming INBOX moves its messages and leaves it (and its children).
	e.appendMessages("INBOX", 2, store.Flags{})
	c.mbxRun("Z1 CREATE INBOX/bar", "Z1 OK CREATE completed")
	c.mbxRun("Z433 RENAME inbox old-mail", "Z433 OK RENAME completed")
	c.mbxRun(`Z434 LIST "" *`,
		`* LIST (\HasChildren) "/" INBOX`,
		`* LIST (\HasNoChildren) "/" INBOX/bar`,
		`* LIST (\HasNoChildren) "/" old-mail`,
		`* LIST (\HasChildren) "/" sarasoop`,
		`* LIST (\HasNoChildren) "/" sarasoop/blurdybloop`,
		`* LIST (\HasChildren) "/" zowie`,
		`* LIST (\HasNoChildren) "/" zowie/bar`,
		"Z434 OK LIST completed")
	c.mbxRun("Z435 STATUS INBOX (MESSAGES)", `* STATUS INBOX (MESSAGES 0)`, "Z435 OK STATUS completed")
	c.mbxRun("Z436 STATUS old-mail (MESSAGES)", `* STATUS old-mail (MESSAGES 2)`, "Z436 OK STATUS completed")
}

func TestMailboxCommandErrors(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial()
	c.login()
	c.mbxRun("a CREATE Work", "a OK CREATE completed")
	c.mbxRun("b CREATE Work", "b NO [ALREADYEXISTS] Mailbox already exists")
	c.mbxRun("c CREATE inbox", "c NO [ALREADYEXISTS] INBOX always exists")
	c.mbxRun(`d CREATE "a//b"`, "d NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`e CREATE "x*"`, "e NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`f CREATE Junk (USE (\Bogus))`, `f NO [USEATTR] \Bogus is not a special use`)
	c.mbxRun(`g CREATE Junk (USE (\Junk \Trash))`, "g NO [USEATTR] A mailbox can have only one special use")
	c.mbxRun(`h CREATE Junk (COLOR red)`, "h BAD Unknown CREATE parameter COLOR")
	c.mbxRun("i DELETE INBOX", "i NO [CANNOT] INBOX cannot be deleted")
	c.mbxRun("j DELETE Nope", "j NO [NONEXISTENT] No such mailbox")
	c.mbxRun("k RENAME Nope Other", "k NO [NONEXISTENT] No such mailbox")
	c.mbxRun("l CREATE Other", "l OK CREATE completed")
	c.mbxRun("m RENAME Work Other", "m NO [ALREADYEXISTS] Mailbox already exists")
	c.mbxRun("n RENAME Work INBOX", "n NO [ALREADYEXISTS] INBOX always exists")
	c.mbxRun("o RENAME Work Work/Sub", "o NO [CANNOT] Operation not permitted")
	c.mbxRun("p STATUS Nope (MESSAGES)", "p NO [NONEXISTENT] No such mailbox")
	c.mbxRun("q STATUS Work (BOGUS)", "q BAD Unknown status item BOGUS")
	c.mbxRun("r STATUS Work ()", "r BAD STATUS needs at least one item")
	c.mbxRun(`s LIST (BOGUS) "" *`, "s BAD Unknown LIST selection option BOGUS")
	c.mbxRun(`t LIST (RECURSIVEMATCH) "" *`, "t BAD RECURSIVEMATCH needs another selection option")
	c.mbxRun(`u LIST "" * RETURN (BOGUS)`, "u BAD Unknown LIST return option BOGUS")
	c.mbxRun(`v SUBSCRIBE "a//b"`, "v NO [CANNOT] Invalid mailbox name")
}
