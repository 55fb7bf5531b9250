package server

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestGetMetadataTranscript runs the examples of RFC 5464 4.2 and 4.4.1:
// single and listed entries, MAXSIZE with LONGENTRIES, DEPTH 0/1/infinity,
// options before and after the mailbox, server entries.
func TestGetMetadataTranscript(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.MetadataAdmin = "mailto:admin@example.org" })
	c := env.dial()
	c.send("a CAPABILITY")
	c.expect(`^\* CAPABILITY .*`, `^a OK .*`) // not before login
	c.login()
	c.send("b CAPABILITY")
	c.expect(`^\* CAPABILITY .* METADATA( |$).*`, `^b OK .*`)

	c.send(`c SETMETADATA "" (/shared/comment "Shared comment")`)
	c.expect(`^c OK SETMETADATA completed$`)
	c.send(`d GETMETADATA "" /shared/comment`)
	c.expect(`^\* METADATA "" \(/shared/comment "Shared comment"\)$`, `^d OK GETMETADATA completed$`)
	c.send(`e GETMETADATA "" /shared/admin`)
	c.expect(`^\* METADATA "" \(/shared/admin "mailto:admin@example.org"\)$`, `^e OK .*`)

	c.send(`f SETMETADATA INBOX (/private/comment "My own comment" /shared/comment {2199+}`)
	long := make([]byte, 2199)
	for i := range long {
		long[i] = 'x'
	}
	c.send(string(long) + ")")
	c.expect(`^f OK .*`)
	c.send(`g GETMETADATA "INBOX" /private/comment`)
	c.expect(`^\* METADATA INBOX \(/private/comment "My own comment"\)$`, `^g OK .*`)
	// Entry names are case-insensitive.
	c.send(`h GETMETADATA "INBOX" (/Private/Comment)`)
	c.expect(`^\* METADATA INBOX \(/private/comment "My own comment"\)$`, `^h OK .*`)
	// RFC 5464 4.2.1, with the option after the mailbox as in its example.
	c.send(`i GETMETADATA "INBOX" (MAXSIZE 1024) (/shared/comment /private/comment)`)
	c.expect(`^\* METADATA INBOX \(/private/comment "My own comment"\)$`, `^i OK \[METADATA LONGENTRIES 2199\] GETMETADATA completed$`)
	// And before it, as in the grammar.
	c.send(`j GETMETADATA (MAXSIZE 10) INBOX (/shared/comment /private/comment)`)
	c.expect(`^j OK \[METADATA LONGENTRIES 2199\] .*`)
	c.send(`k GETMETADATA (MAXSIZE 3000) INBOX /shared/comment`)
	c.expect(`^\* METADATA INBOX \(/shared/comment \{2199\}$`)
	if l := c.readLine(); len(l) != 2199+1 || l[2199] != ')' {
		t.Fatalf("literal value line %q", l)
	}
	c.expect(`^k OK GETMETADATA completed$`)

	// RFC 5464 4.2.2.
	c.send(`l SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" /private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/boss/deep "x")`)
	c.expect(`^l OK .*`)
	c.send(`m GETMETADATA "INBOX" (DEPTH 1) (/private/filters/values)`)
	c.expect(`^\* METADATA INBOX \(/private/filters/values/boss "FROM \\"boss@example.com\\"" /private/filters/values/small "SMALLER 5000"\)$`, `^m OK .*`)
	c.send(`n GETMETADATA INBOX (DEPTH infinity) /private/filters`)
	c.expect(`^\* METADATA INBOX \(/private/filters/values/boss "FROM \\"boss@example.com\\"" /private/filters/values/boss/deep "x" /private/filters/values/small "SMALLER 5000"\)$`, `^n OK .*`)
	c.send(`o GETMETADATA INBOX (DEPTH 0) /private/filters`)
	c.expect(`^o OK .*`) // nothing at the name itself
	c.send(`p GETMETADATA INBOX (DEPTH 1 MAXSIZE 12) (/private/filters/values)`)
	c.expect(`^\* METADATA INBOX \(/private/filters/values/small "SMALLER 5000"\)$`, `^p OK \[METADATA LONGENTRIES 23\] .*`)

	// Errors.
	c.send(`q GETMETADATA Nowhere /private/comment`)
	c.expect(`^q NO \[NONEXISTENT\] .*`)
	c.send(`r GETMETADATA INBOX /private/co*`)
	c.expect(`^r BAD .*`)
	c.send(`s GETMETADATA INBOX /other/comment`)
	c.expect(`^s BAD .*`)
	c.send(`t GETMETADATA INBOX (DEPTH 2) /private`)
	c.expect(`^t BAD .*`)
	c.send(`u GETMETADATA INBOX (COLOR red) /private`)
	c.expect(`^u BAD .*`)
	c.send(`v GETMETADATA INBOX ()`)
	c.expect(`^v BAD .*`)
	c.send(`w GETMETADATA INBOX /private/comment/`)
	c.expect(`^w BAD .*`)
	c.send(`x LOGOUT`)
	c.until("x OK")

	c2 := env.dial()
	c2.send(`a GETMETADATA "" /shared/comment`)
	c2.expect(`^a BAD .*`) // not in the not-authenticated state
}

// TestMetadataImapClient drives GETMETADATA and SETMETADATA through
// go-imap v2's client: values set, read with options, removed by nil.
func TestMetadataImapClient(t *testing.T) {
	env := newTestEnv(t, nil)
	cl := dialImapClient(t, env)
	if !cl.Caps().Has("METADATA") {
		t.Fatal("METADATA not advertised")
	}
	v1, v2 := []byte("a comment"), []byte("line one\r\nline two")
	if err := cl.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": &v1, "/shared/comment": &v2}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := cl.GetMetadata("INBOX", []string{"/private/comment", "/shared/comment", "/private/none"}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Entries) != 2 || string(*data.Entries["/private/comment"]) != "a comment" || string(*data.Entries["/shared/comment"]) != string(v2) {
		t.Fatalf("got %+v", data.Entries)
	}
	max := uint32(9)
	data, err = cl.GetMetadata("INBOX", []string{"/private", "/shared"}, &imapclient.GetMetadataOptions{MaxSize: &max, Depth: imapclient.GetMetadataDepthInfinity}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Entries) != 1 || data.Entries["/private/comment"] == nil {
		t.Fatalf("MAXSIZE 9, DEPTH infinity: %+v", data.Entries)
	}
	if err := cl.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": nil}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err = cl.GetMetadata("INBOX", []string{"/private/comment"}, nil).Wait()
	if err != nil || len(data.Entries) != 0 {
		t.Fatalf("after removal: %+v, %v", data, err)
	}
	// The store agrees.
	md, err := env.store.(store.MetadataStore).OpenMetadata(context.Background(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	inbox, _ := env.account().Mailbox(context.Background(), "INBOX")
	es, err := md.GetMetadata(context.Background(), inbox.ID, []string{"/shared/comment"}, 0)
	if err != nil || len(es) != 1 || string(es[0].Value) != string(v2) {
		t.Fatalf("store: %+v, %v", es, err)
	}
}
