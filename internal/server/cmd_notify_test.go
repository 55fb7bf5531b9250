package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// notifyIdle checks that nothing arrives unasked: a NOOP's tagged OK is
// the next line (after any untagged lines the NOOP itself may cause, which
// the caller lists).
func (c *client) notifyIdle(tag string, untagged ...string) {
	c.t.Helper()
	c.send(tag + " NOOP")
	c.expect(append(untagged, "^"+tag+" OK .*")...)
}

// TestNotifyTranscript follows the example of RFC 5465 3.1: STATUS for
// the watched subtree before the tagged OK, then, with INBOX selected and
// no command in progress, STATUS when another writer delivers to a watched
// mailbox and EXISTS plus the asked-for FETCH when it delivers to the
// selected one; expunges in both; NOTIFY NONE stops it all. (The RFC's
// example names MessageNew alone for the subtree, which its own section 5
// makes a BAD command; MessageExpunge is added, as the erratum does.)
func TestNotifyTranscript(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.account()
	mbxCreate(t, a, "Lists/Lemonade", "Lists/Im2000", "misc")
	env.appendMessages("Lists/Lemonade", 3, store.Flags{})
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.dial()
	c.loginRev2()
	c.send(`b notify set status (selected MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge) (subtree Lists (MessageNew MessageExpunge))`)
	// (The events of "selected" without parentheses, as in the RFC's
	// example; the grammar of section 8 has them.)
	c.expect(
		`^\* STATUS Lists \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)$`,
		`^\* STATUS Lists/Im2000 \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)$`,
		`^\* STATUS Lists/Lemonade \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+\)$`,
		`^b OK NOTIFY completed$`)
	c.send(`c select inbox`)
	c.until("c OK")

	// A delivery to a watched mailbox, with no command in progress.
	env.appendMessages("Lists/Lemonade", 1, store.Flags{})
	c.expect(`^\* STATUS Lists/Lemonade \(MESSAGES 4 UIDNEXT 5 UIDVALIDITY \d+\)$`)
	// One to the selected mailbox: EXISTS, then the attributes asked for.
	env.appendMessages("INBOX", 1, store.Flags{})
	c.expect(`^\* 3 EXISTS$`,
		`^\* 3 FETCH \(UID 3 BODY\[HEADER\.FIELDS \(from to subject\)\] \{36\}$`,
		`^From: a@example\.org$`, `^Subject: m0$`, `^$`, `^\)$`)
	// Unwatched mailboxes say nothing.
	env.appendMessages("misc", 1, store.Flags{})
	c.notifyIdle("d")
	// Expunges: STATUS elsewhere, EXPUNGE at once in the selected mailbox.
	lem, _ := a.Mailbox(context.Background(), "Lists/Lemonade")
	if _, err := a.Expunge(context.Background(), lem.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	c.expect(`^\* STATUS Lists/Lemonade \(MESSAGES 3 UIDNEXT 5 UIDVALIDITY \d+\)$`)
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Expunge(context.Background(), inbox.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	c.expect(`^\* 1 EXPUNGE$`)

	// The client's own APPEND to the selected mailbox: EXISTS at the end
	// of the command, but no FETCH (5.2).
	c.send("e APPEND INBOX {12+}\r\nSubject: x\r\n")
	c.expect(`^\* 3 EXISTS$`, `^e OK \[APPENDUID \d+ 4\] APPEND completed$`)

	// NOTIFY NONE: back to changes at command ends only.
	c.send("f NOTIFY NONE")
	c.expect(`^f OK .*`)
	env.appendMessages("Lists/Lemonade", 1, store.Flags{})
	env.appendMessages("INBOX", 1, store.Flags{})
	c.notifyIdle("g", `^\* 4 EXISTS$`)
}

// TestNotifyErrors: the command's error paths (RFC 5465 3.1, 5, 6.1, 8).
func TestNotifyErrors(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.NotifyMaxNames = 2 })
	c := env.dial()
	c.send(`a NOTIFY NONE`)
	c.expect(`^a BAD .*`) // not before login
	c.loginRev2()
	for i, tc := range []struct{ args, want string }{
		{`SET (personal (MessageNew))`, `BAD`},                            // without MessageExpunge
		{`SET (personal (MessageExpunge))`, `BAD`},                        // without MessageNew
		{`SET (personal (FlagChange))`, `BAD`},                            // without both
		{`SET (selected (MailboxName))`, `BAD`},                           // not a message event
		{`SET (selected NONE) (selected-delayed NONE)`, `BAD`},            // two selected filters
		{`SET (personal (MessageNew (UID) MessageExpunge))`, `BAD`},       // fetch-att outside SELECTED
		{`SET (everything (MessageNew MessageExpunge))`, `BAD`},           // unknown filter
		{`SET STATUSX (personal NONE)`, `BAD`},                            // not STATUS
		{`SET (personal)`, `BAD`},                                         // no events
		{`SET (mailboxes () (MailboxName))`, `BAD`},                       // no names
		{`SET (selected (MessageNew (NOSUCHATT) MessageExpunge))`, `BAD`}, // bad fetch-att
		{`RESET`, `BAD`}, // not SET or NONE
		{`SET (personal (MessageNew MessageExpunge MessageAnnotate))`, `NO \[BADEVENT \(MessageNew MessageExpunge FlagChange AnnotationChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange\)\]`},
		{`SET (mailboxes (a b c) (MailboxName))`, `NO \[NOTIFICATIONOVERFLOW\]`}, // past NotifyMaxNames
		{`SET (mailboxes (a b) (MailboxName))`, `OK`},                            // at it
		{`SET (personal (MessageNew MessageExpunge FlagChange AnnotationChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)) (selected-delayed (MessageNew (UID FLAGS ENVELOPE) MessageExpunge FlagChange))`, `OK`},
		{`SET (inboxes NONE) (subscribed (MailboxName)) (subtree "Lists" (SubscriptionChange)) (mailboxes INBOX (MessageNew MessageExpunge))`, `OK`},
		{`NONE`, `OK`},
		{`NONE`, `OK`}, // twice is fine
	} {
		tag := fmt.Sprintf("n%d", i)
		c.send(tag + " NOTIFY " + tc.args)
		c.expect("^" + tag + " " + tc.want + "( .*|$)")
	}
	c.send("z CAPABILITY")
	c.expect(`^\* CAPABILITY .* NOTIFY( |$).*`, `^z OK .*`)
}

// TestNotifyMailboxEvents: MailboxName, SubscriptionChange,
// MailboxMetadataChange and ServerMetadataChange caused by another session
// arrive as LIST (with OLDNAME for a rename, \NonExistent for a deletion,
// the parent of a created or deleted mailbox too) and METADATA responses;
// this client's own changes are not echoed back (RFC 5465 5).
func TestNotifyMailboxEvents(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.loginRev2()
	c.send(`a NOTIFY SET (personal (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))`)
	c.expect(`^a OK .*`)
	o := env.dial()
	o.loginRev2()

	o.send(`b CREATE Work/Plans`)
	o.expect(`^b OK .*`)
	c.expect(`^\* LIST \(\\HasChildren\) "/" Work$`, `^\* LIST \(\\HasNoChildren\) "/" Work/Plans$`)
	o.send(`c RENAME Work Job`)
	o.expect(`^c OK .*`)
	c.expect(`^\* LIST \(\\HasChildren\) "/" Job \("OLDNAME" \(Work\)\)$`)
	o.send(`d DELETE Job/Plans`)
	o.expect(`^d OK .*`)
	c.expect(`^\* LIST \(\\NonExistent \\HasNoChildren\) "/" Job/Plans$`, `^\* LIST \(\\HasNoChildren\) "/" Job$`)
	o.send(`e SUBSCRIBE Job`)
	o.expect(`^e OK .*`)
	c.expect(`^\* LIST \(\\HasNoChildren \\Subscribed\) "/" Job$`)
	o.send(`f UNSUBSCRIBE Job`)
	o.expect(`^f OK .*`)
	c.expect(`^\* LIST \(\\HasNoChildren\) "/" Job$`)
	o.send(`g SETMETADATA Job (/private/comment "x" /shared/comment "y")`)
	o.expect(`^g OK .*`)
	c.expect(`^\* METADATA Job /private/comment /shared/comment$`)
	o.send(`h SETMETADATA Job (/private/comment NIL)`)
	o.expect(`^h OK .*`)
	c.expect(`^\* METADATA Job /private/comment$`) // a removal is named too (5.6)
	o.send(`i SETMETADATA "" (/private/vendor/tidemark/x "1")`)
	o.expect(`^i OK .*`)
	c.expect(`^\* METADATA "" /private/vendor/tidemark/x$`)
	c.notifyIdle("j")

	// The client's own changes: nothing comes back.
	c.send(`k CREATE Mine`)
	c.expect(`^k OK .*`)
	c.send(`l SUBSCRIBE Mine`)
	c.expect(`^l OK .*`)
	c.send(`m SETMETADATA Mine (/private/comment "mine")`)
	c.expect(`^m OK .*`)
	c.send(`n SETMETADATA "" (/private/comment "mine")`)
	c.expect(`^n OK .*`)
	c.send(`o RENAME Mine Yours`)
	c.expect(`^o OK .*`)
	c.notifyIdle("p")
	// And the other session's next change still arrives.
	o.send(`q DELETE Yours`)
	o.expect(`^q OK .*`)
	c.expect(`^\* LIST \(\\NonExistent \\HasNoChildren\) "/" Yours$`)
}

// TestNotifySelectedDelayed: with SELECTED-DELAYED an expunge by another
// session waits for a command that may report it (RFC 5465 6.1.2), while
// new messages are announced at once.
func TestNotifySelectedDelayed(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	a := env.account()
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	c := env.dial()
	c.loginRev2()
	c.send(`a SELECT INBOX`)
	c.until("a OK")
	c.send(`b NOTIFY SET (selected-delayed (MessageNew (UID) MessageExpunge))`)
	c.expect(`^b OK .*`)
	if _, err := a.Expunge(context.Background(), inbox.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	env.appendMessages("INBOX", 1, store.Flags{})
	// The new message comes at once, under a sequence number that still
	// counts the expunged message.
	c.expect(`^\* 4 EXISTS$`, `^\* 4 FETCH \(UID 4\)$`)
	// A FETCH by sequence number keeps it held (RFC 9051 7.4.1)...
	c.send(`c FETCH 2 (UID)`)
	c.expect(`^c OK .*`)
	// ...a NOOP reports it.
	c.notifyIdle("d", `^\* 2 EXPUNGE$`)
}

// TestNotifyCondstore: under QRESYNC, the selected mailbox's flag changes
// come as FETCH with UID and MODSEQ, expunges as VANISHED, new messages
// with MODSEQ next to the FLAGS asked for; another mailbox's flag change
// is a STATUS with UIDVALIDITY, HIGHESTMODSEQ and UNSEEN (RFC 5465 5.1-5.3,
// RFC 7162).
func TestNotifyCondstore(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.account()
	mbxCreate(t, a, "Other")
	env.appendMessages("INBOX", 2, store.Flags{})
	env.appendMessages("Other", 2, store.Flags{})
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	other, _ := a.Mailbox(context.Background(), "Other")
	c := env.dial()
	c.loginRev2()
	c.send(`a ENABLE QRESYNC`)
	c.expect(`^\* ENABLED CONDSTORE QRESYNC$`, `^a OK .*`)
	c.send(`b SELECT INBOX`)
	c.until("b OK")
	c.send(`c NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge FlagChange))`)
	c.expect(`^c OK .*`)

	res, err := a.SetFlags(context.Background(), inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(fmt.Sprintf(`^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(%d\)\)$`, res.ModSeq))
	if _, err := a.Expunge(context.Background(), inbox.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	c.expect(`^\* VANISHED 2$`)
	app := env.appendMessages("INBOX", 1, store.Flags{})
	c.expect(`^\* 2 EXISTS$`, fmt.Sprintf(`^\* 2 FETCH \(UID 3 FLAGS \(\) MODSEQ \(%d\)\)$`, app.ModSeq))

	res, err = a.SetFlags(context.Background(), other.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first STATUS of a mailbox carries every item the events call
	// for; later ones what moved.
	c.expect(fmt.Sprintf(`^\* STATUS Other \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ %d\)$`, res.ModSeq))
	res, err = a.SetFlags(context.Background(), other.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(fmt.Sprintf(`^\* STATUS Other \(UIDVALIDITY \d+ HIGHESTMODSEQ %d\)$`, res.ModSeq))
	app = env.appendMessages("Other", 1, store.Flags{})
	c.expect(fmt.Sprintf(`^\* STATUS Other \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 2 HIGHESTMODSEQ %d\)$`, app.ModSeq))
	c.notifyIdle("d")
}

// TestNotifyWithoutFlagChange: a selected spec without FlagChange keeps
// other sessions' flag changes out of the notifications.
func TestNotifyWithoutFlagChange(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 1, store.Flags{})
	a := env.account()
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	c := env.dial()
	c.loginRev2()
	c.send(`a SELECT INBOX`)
	c.until("a OK")
	c.send(`b NOTIFY SET (selected (MessageNew MessageExpunge))`)
	c.expect(`^b OK .*`)
	if _, err := a.SetFlags(context.Background(), inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	env.appendMessages("INBOX", 1, store.Flags{})
	c.expect(`^\* 2 EXISTS$`)
	c.notifyIdle("c")
}

// TestNotifyInIdle: IDLE sends exactly NOTIFY's events (RFC 5465 4),
// another mailbox's STATUS included.
func TestNotifyInIdle(t *testing.T) {
	env := newTestEnv(t, nil)
	mbxCreate(t, env.account(), "Other")
	c := env.dial()
	c.loginRev2()
	c.send(`a SELECT INBOX`)
	c.until("a OK")
	c.send(`b NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge))`)
	c.expect(`^b OK .*`)
	c.send(`c IDLE`)
	c.expect(`^\+ .*`)
	env.appendMessages("Other", 1, store.Flags{})
	c.expect(`^\* STATUS Other \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$`)
	env.appendMessages("INBOX", 1, store.Flags{})
	c.expect(`^\* 1 EXISTS$`)
	c.send("DONE")
	c.expect(`^c OK .*`)
}

// TestNotifyOverflow: more responses for one batch of events than
// NotifyMaxEvents gives OK [NOTIFICATIONOVERFLOW], and NOTIFY is then
// NONE (RFC 5465 5.8).
func TestNotifyOverflow(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.NotifyMaxEvents = 1 })
	c := env.dial()
	c.loginRev2()
	c.send(`a NOTIFY SET (personal (MailboxName MessageNew MessageExpunge))`)
	c.expect(`^a OK .*`)
	o := env.dial()
	o.loginRev2()
	o.send(`b CREATE One`) // one event: within the limit
	o.expect(`^b OK .*`)
	c.expect(`^\* LIST \(\\HasNoChildren\) "/" One$`)
	o.send(`c CREATE Two/Three`) // two: Two and Two/Three
	o.expect(`^c OK .*`)
	c.expect(`^\* LIST \(\\HasChildren\) "/" Two$`, `^\* OK \[NOTIFICATIONOVERFLOW\] .*`)
	o.send(`d CREATE Four`)
	o.expect(`^d OK .*`)
	env.appendMessages("One", 1, store.Flags{})
	c.notifyIdle("e")
	c.send(`f NOTIFY SET (personal (MailboxName))`) // and it can be set again
	c.expect(`^f OK .*`)
	o.send(`g CREATE Five`)
	o.expect(`^g OK .*`)
	c.expect(`^\* LIST \(\\HasNoChildren\) "/" Five$`)
}

// TestNotifyEndsWithLogin: UNAUTHENTICATE (RFC 8437) ends NOTIFY with the
// login, so no event of the former user reaches the connection.
func TestNotifyEndsWithLogin(t *testing.T) {
	env := newTestEnv(t, nil)
	mbxCreate(t, env.account(), "Other")
	c := env.dial()
	c.loginRev2()
	c.send(`a NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))`)
	c.expect(`^a OK .*`)
	c.send(`b UNAUTHENTICATE`)
	c.expect(`^b OK .*`)
	env.appendMessages("Other", 1, store.Flags{})
	mbxCreate(t, env.account(), "New")
	c.notifyIdle("c")
	c.login()
	c.notifyIdle("d") // a new login starts without NOTIFY
}

// TestNotifyCompressed: events written between commands reach a client
// under COMPRESS DEFLATE (RFC 4978), each flushed as it is written.
func TestNotifyCompressed(t *testing.T) {
	env := newTestEnv(t, nil)
	mbxCreate(t, env.account(), "Other")
	c := env.dial()
	c.loginRev2()
	c.compress()
	c.send(`a NOTIFY SET (personal (MessageNew MessageExpunge))`)
	c.expect(`^a OK .*`)
	env.appendMessages("Other", 1, store.Flags{})
	c.expect(`^\* STATUS Other \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$`)
	env.appendMessages("Other", 1, store.Flags{})
	c.expect(`^\* STATUS Other \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+\)$`)
	c.notifyIdle("b")
}
