package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestUnsolicitedMetadata: after ENABLE METADATA a session hears, as
// entry names without values (RFC 5464 4.4.2's examples), of changes
// another session makes to the selected mailbox's entries and the
// server's, at the next sync point and in IDLE for the mailbox; never of
// its own changes, of other mailboxes, nor before ENABLE.
func TestUnsolicitedMetadata(t *testing.T) {
	env := newTestEnv(t, nil)
	if _, err := env.account().CreateMailbox(context.Background(), "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a, b := env.dial(), env.dial()
	a.login()
	b.login()
	a.exchange("s", "SELECT INBOX")
	// Before ENABLE: nothing.
	check(t, b.exchange("b1", `SETMETADATA INBOX (/shared/comment "one")`), "b1 OK SETMETADATA completed")
	check(t, a.exchange("n1", "NOOP"), "n1 OK NOOP completed")

	check(t, a.exchange("e", "ENABLE METADATA"), "* ENABLED METADATA", "e OK ENABLE completed")
	check(t, b.exchange("b2", `SETMETADATA "" (/shared/comment "server")`), "b2 OK SETMETADATA completed")
	check(t, a.exchange("n2", "NOOP"), `* METADATA "" /shared/comment`, "n2 OK NOOP completed")
	check(t, b.exchange("b3", `SETMETADATA INBOX (/shared/comment "two" /private/comment "mine")`), "b3 OK SETMETADATA completed")
	check(t, a.exchange("n3", "NOOP"), `* METADATA INBOX /private/comment /shared/comment`, "n3 OK NOOP completed")
	// A removal is a change too; another mailbox's entries are not told.
	check(t, b.exchange("b4", `SETMETADATA INBOX (/private/comment NIL)`), "b4 OK SETMETADATA completed")
	check(t, b.exchange("b5", `SETMETADATA Other (/private/comment "elsewhere")`), "b5 OK SETMETADATA completed")
	check(t, a.exchange("n4", "NOOP"), `* METADATA INBOX /private/comment`, "n4 OK NOOP completed")
	// The session's own changes are not reported back to it.
	check(t, a.exchange("a1", `SETMETADATA INBOX (/private/comment "own")`), "a1 OK SETMETADATA completed")
	check(t, a.exchange("a2", `SETMETADATA "" (/private/comment "own")`), "a2 OK SETMETADATA completed")
	check(t, a.exchange("n5", "NOOP"), "n5 OK NOOP completed")
	// In IDLE, a change to the selected mailbox's entries comes at once.
	a.send("i IDLE")
	a.expect(`^\+ `)
	check(t, b.exchange("b6", `SETMETADATA INBOX (/shared/comment "three")`), "b6 OK SETMETADATA completed")
	a.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	if l := a.readLine(); l != `* METADATA INBOX /shared/comment` {
		t.Fatalf("in IDLE: %q", l)
	}
	a.send("DONE")
	a.expect(`^i OK `)
	// A mailbox selected anew starts from its state at SELECT.
	check(t, b.exchange("b7", `SETMETADATA Other (/shared/comment "before select")`), "b7 OK SETMETADATA completed")
	if got := a.exchange("s2", "SELECT Other"); strings.Contains(got, "* METADATA") {
		t.Errorf("SELECT reported older changes:\n%s", got)
	}
	check(t, a.exchange("n6", "NOOP"), "n6 OK NOOP completed")
	check(t, b.exchange("b8", `SETMETADATA Other (/shared/comment "after select")`), "b8 OK SETMETADATA completed")
	check(t, a.exchange("n7", "NOOP"), `* METADATA Other /shared/comment`, "n7 OK NOOP completed")
}
