package server

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSetMetadataTranscript runs the examples of RFC 5464 4.3 (a
// multi-line value in a synchronizing literal, NIL removal, several
// entries at once) and its error paths: both limits with their codes,
// all-or-nothing, the read-only /shared/admin, bad names.
func TestSetMetadataTranscript(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Metadata = store.MetadataLimits{MaxSize: 40, MaxEntries: 3}
		c.MetadataAdmin = "mailto:admin@example.org"
	})
	c := env.dial()
	c.login()
	c.send(`a SETMETADATA INBOX (/private/comment {33}`)
	c.expect(`^\+ .*`)
	c.send("My new comment across\r\ntwo lines.)")
	c.expect(`^a OK SETMETADATA completed$`)
	c.send(`b GETMETADATA INBOX /private/comment`)
	c.expect(`^\* METADATA INBOX \(/private/comment \{33\}$`, `^My new comment across$`, `^two lines.\)$`, `^b OK .*`)
	c.send(`c SETMETADATA INBOX (/private/comment NIL)`)
	c.expect(`^c OK .*`)
	c.send(`d GETMETADATA INBOX /private/comment`)
	c.expect(`^d OK .*`)
	c.send(`e SETMETADATA INBOX (/private/comment "My new comment" /shared/comment "This one is for you!")`)
	c.expect(`^e OK .*`)
	c.send(`f GETMETADATA INBOX (/private/comment /shared/comment)`)
	c.expect(`^\* METADATA INBOX \(/private/comment "My new comment" /shared/comment "This one is for you!"\)$`, `^f OK .*`)
	// An empty value is a value, not a removal.
	c.send(`g SETMETADATA INBOX (/private/empty "")`)
	c.expect(`^g OK .*`)
	c.send(`h GETMETADATA INBOX /private/empty`)
	c.expect(`^\* METADATA INBOX \(/private/empty ""\)$`, `^h OK .*`)

	// TOOMANY: three entries is the limit; nothing of a refused command
	// is applied, not even the changes that would fit.
	c.send(`i SETMETADATA INBOX (/private/comment "changed" /private/fourth "4")`)
	c.expect(`^i NO \[METADATA TOOMANY\] .*`)
	c.send(`j GETMETADATA INBOX (/private/comment /private/fourth)`)
	c.expect(`^\* METADATA INBOX \(/private/comment "My new comment"\)$`, `^j OK .*`)
	// Replacing and removing at the limit is fine.
	c.send(`k SETMETADATA INBOX (/private/empty NIL /private/fourth "4")`)
	c.expect(`^k OK .*`)
	// The limit is per mailbox: the server has its own.
	c.send(`l SETMETADATA "" (/shared/comment "s" /private/vendor/tidemark/x "x")`)
	c.expect(`^l OK .*`)

	// MAXSIZE: a synchronizing literal is refused before its bytes are
	// asked for; a quoted string after reading; nothing is applied.
	c.send(`m SETMETADATA INBOX (/private/comment "ok" /shared/comment {41}`)
	c.expect(`^m NO \[METADATA MAXSIZE 40\] .*`)
	c.send(`n SETMETADATA INBOX (/private/comment "ok" /shared/comment "` + strings.Repeat("y", 41) + `")`)
	c.expect(`^n NO \[METADATA MAXSIZE 40\] .*`)
	c.send(`o SETMETADATA INBOX (/private/comment "ok" /shared/comment {41+}`)
	c.send(strings.Repeat("z", 41) + ")")
	c.expect(`^o NO \[METADATA MAXSIZE 40\] .*`)
	c.send(`p GETMETADATA INBOX (/private/comment /shared/comment)`)
	c.expect(`^\* METADATA INBOX \(/private/comment "My new comment" /shared/comment "This one is for you!"\)$`, `^p OK .*`)
	c.send(`q SETMETADATA INBOX (/shared/comment "` + strings.Repeat("y", 40) + `")`)
	c.expect(`^q OK .*`)

	// A binary value (literal8) comes back as a literal8.
	c.send("r SETMETADATA INBOX (/private/fourth NIL /private/bin ~{3+}")
	c.send("a\x00b)")
	c.expect(`^r OK .*`)
	c.send(`s GETMETADATA INBOX /private/bin`)
	c.expect(`^\* METADATA INBOX \(/private/bin ~\{3\}$`)
	if l := c.readLine(); l != "a\x00b)" {
		t.Fatalf("binary value: %q", l)
	}
	c.expect(`^s OK .*`)

	// Errors.
	c.send(`t SETMETADATA "" (/shared/admin "mailto:me@example.org")`)
	c.expect(`^t NO \[PERMISSIONDENIED\] .*`)
	c.send(`u SETMETADATA Nowhere (/private/comment "x")`)
	c.expect(`^u NO \[NONEXISTENT\] .*`)
	c.send(`v SETMETADATA INBOX (/private "x")`)
	c.expect(`^v BAD .*`)
	c.send(`w SETMETADATA INBOX (/private/vendor/x "x")`)
	c.expect(`^w BAD .*`)
	c.send(`x SETMETADATA INBOX (/private/a*b "x")`)
	c.expect(`^x BAD .*`)
	c.send(`y SETMETADATA INBOX ()`)
	c.expect(`^y BAD .*`)
	c.send(`z SETMETADATA INBOX (/private/comment)`)
	c.expect(`^z BAD .*`)
	c.send(`A NOOP`)
	c.expect(`^A OK .*`)
}

// TestSetMetadataModSeq checks that a mailbox's metadata is part of its
// state for CONDSTORE: SETMETADATA raises HIGHESTMODSEQ, a session with
// the mailbox selected is told the new value, and a change that changes
// nothing allocates nothing.
func TestSetMetadataModSeq(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	c.send(`a STATUS INBOX (HIGHESTMODSEQ)`)
	l := c.expect(`^\* STATUS INBOX \(HIGHESTMODSEQ (\d+)\)$`, `^a OK .*`)[0]
	before := l[strings.LastIndex(l, " ")+1 : len(l)-1]
	c.send(`b SELECT INBOX`)
	c.until("b OK")
	c.send(`c SETMETADATA INBOX (/private/comment "x")`)
	c.expect(`^c OK .*`)
	c.send(`d STATUS INBOX (HIGHESTMODSEQ)`)
	l = c.expect(`^\* STATUS INBOX \(HIGHESTMODSEQ (\d+)\)$`, `^d OK .*`)[0]
	after := l[strings.LastIndex(l, " ")+1 : len(l)-1]
	if after == before {
		t.Fatalf("HIGHESTMODSEQ stayed %s", before)
	}
	c.send(`e SETMETADATA INBOX (/private/comment "x")`)
	c.expect(`^e OK .*`)
	c.send(`f STATUS INBOX (HIGHESTMODSEQ)`)
	c.expect(`^\* STATUS INBOX \(HIGHESTMODSEQ `+after+`\)$`, `^f OK .*`)
	// A second session selecting afterwards sees the new HIGHESTMODSEQ.
	c2 := env.dial()
	c2.login()
	c2.send(`a SELECT INBOX`)
	lines := c2.until("a OK")
	if !strings.Contains(strings.Join(lines, "\n"), "[HIGHESTMODSEQ "+after+"]") {
		t.Fatalf("SELECT after SETMETADATA: %q, want HIGHESTMODSEQ %s", lines, after)
	}
}

// TestMetadataFollowsMailbox: entries follow RENAME, go with DELETE (a
// mailbox created again under the name starts bare), and one user never
// sees another's, server entries included.
func TestMetadataFollowsMailbox(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	c := env.dial()
	c.login()
	c.send(`a CREATE Box`)
	c.expect(`^a OK .*`)
	c.send(`b SETMETADATA Box (/private/comment "mine")`)
	c.expect(`^b OK .*`)
	c.send(`c RENAME Box Moved`)
	c.expect(`^c OK .*`)
	c.send(`d GETMETADATA Moved /private/comment`)
	c.expect(`^\* METADATA Moved \(/private/comment "mine"\)$`, `^d OK .*`)
	c.send(`e GETMETADATA Box /private/comment`)
	c.expect(`^e NO \[NONEXISTENT\] .*`)
	c.send(`f DELETE Moved`)
	c.expect(`^f OK .*`)
	c.send(`g CREATE Moved`)
	c.expect(`^g OK .*`)
	c.send(`h GETMETADATA Moved (DEPTH infinity) (/private /shared)`)
	c.expect(`^h OK .*`)
	c.send(`i SETMETADATA "" (/private/comment "joe's server note")`)
	c.expect(`^i OK .*`)
	c.send(`j SETMETADATA INBOX (/shared/comment "joe's inbox")`)
	c.expect(`^j OK .*`)

	if err := env.store.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	md, err := env.store.(store.MetadataStore).OpenMetadata(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	bob, _ := env.store.Open(ctx, "bob")
	defer bob.Close()
	inbox, _ := bob.Mailbox(ctx, "INBOX")
	for _, id := range []store.MailboxID{store.ServerMetadata, inbox.ID} {
		es, err := md.GetMetadata(ctx, id, []string{"/private", "/shared"}, -1)
		if err != nil || len(es) != 0 {
			t.Fatalf("bob sees %+v, %v", es, err)
		}
	}
}
