package server

import "testing"

// TestListMetadata: LIST RETURN (METADATA ...) of RFC 9590 answers each
// listed mailbox's entries right after its LIST line, NIL for an entry
// the mailbox lacks, with MAXSIZE and LONGENTRIES as GETMETADATA, and
// alongside the other return options.
func TestListMetadata(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	c.send("a CAPABILITY")
	c.expect(`^\* CAPABILITY .* LIST-METADATA( |$).*`, `^a OK .*`)
	c.send(`b CREATE Work`)
	c.expect(`^b OK .*`)
	c.send(`c CREATE Empty`)
	c.expect(`^c OK .*`)
	c.send(`d SETMETADATA INBOX (/private/color "#ff0000" /shared/comment "inbox")`)
	c.expect(`^d OK .*`)
	c.send(`e SETMETADATA Work (/private/color "#00ff00" /private/long "` + "0123456789abcdef" + `")`)
	c.expect(`^e OK .*`)
	c.send(`f LIST "" "*" RETURN (METADATA (/private/color /shared/comment))`)
	c.expect(
		`^\* LIST \(\\HasNoChildren\) "/" INBOX$`,
		`^\* METADATA INBOX \(/private/color "#ff0000" /shared/comment "inbox"\)$`,
		`^\* LIST \(\\HasNoChildren\) "/" Empty$`,
		`^\* METADATA Empty \(/private/color NIL /shared/comment NIL\)$`,
		`^\* LIST \(\\HasNoChildren\) "/" Work$`,
		`^\* METADATA Work \(/private/color "#00ff00" /shared/comment NIL\)$`,
		`^f OK LIST completed$`)
	c.send(`g LIST "" "W*" RETURN (SUBSCRIBED METADATA (MAXSIZE 10) (/private/color /private/long) STATUS (MESSAGES))`)
	c.expect(
		`^\* LIST \(\\HasNoChildren\) "/" Work$`,
		`^\* STATUS Work \(MESSAGES 0\)$`,
		`^\* METADATA Work \(/private/color "#00ff00"\)$`,
		`^g OK \[METADATA LONGENTRIES 16\] LIST completed$`)
	c.send(`h LIST "" "Work" RETURN (METADATA (DEPTH infinity) /private)`)
	c.expect(
		`^\* LIST \(\\HasNoChildren\) "/" Work$`,
		`^\* METADATA Work \(/private/color "#00ff00" /private/long "0123456789abcdef"\)$`,
		`^h OK .*`)
	c.send(`i LIST "" "*" RETURN (METADATA (/private/co*))`)
	c.expect(`^i BAD .*`)
	c.send(`j LIST "" "*" RETURN (METADATA ())`)
	c.expect(`^j BAD .*`)
}

// TestListMetadataForms: the METADATA return option's options and entries
// in one parenthesized value, as RFC 5258's option-value has it, give what
// the GETMETADATA-like form gives; options after an entry are refused.
func TestListMetadataForms(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	check(t, c.exchange("a", `CREATE Work`), "a OK CREATE completed")
	check(t, c.exchange("b", `SETMETADATA Work (/private/color "#00ff00" /private/long "0123456789abcdef")`), "b OK SETMETADATA completed")
	want := []string{`* LIST (\HasNoChildren) "/" Work`, `* METADATA Work (/private/color "#00ff00")`, "c OK [METADATA LONGENTRIES 16] LIST completed"}
	for _, opt := range []string{
		`METADATA (MAXSIZE 10) (/private/color /private/long)`,
		`METADATA ((MAXSIZE 10) /private/color /private/long)`,
		`METADATA (MAXSIZE 10 /private/color /private/long)`,
		`METADATA (MAXSIZE 10 DEPTH infinity /private)`,
		`METADATA ((MAXSIZE 10 DEPTH 1) /private)`,
	} {
		check(t, c.exchange("c", `LIST "" "Work" RETURN (`+opt+`)`), want...)
	}
	check(t, c.exchange("d", `LIST "" "Work" RETURN (METADATA (/private/color MAXSIZE 10))`), "d BAD METADATA options come first")
	check(t, c.exchange("e", `LIST "" "Work" RETURN (METADATA ((MAXSIZE 10) (DEPTH 1) /private))`), "e BAD METADATA options come first, once")
	check(t, c.exchange("f", `LIST "" "Work" RETURN (METADATA (MAXSIZE 10))`), "f BAD expected ' ', got ')'")
	check(t, c.exchange("g", `LIST "" "Work" RETURN (METADATA (SIZE 10 /private))`), "g BAD Unknown GETMETADATA option SIZE")
}
