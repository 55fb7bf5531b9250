package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/acl"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// aclMatrixRow is one command of the matrix and the rights it needs (RFC
// 4314 4).
type aclMatrixRow struct {
	name string
	// base is granted in every cell of the row (r, for commands on the
	// selected mailbox, which must first be selected).
	base string
	// need: every one of these rights; with anyOf, at least one.
	need  string
	anyOf bool
	// selected runs the command with Work selected.
	selected bool
	// pre are the actor's own commands before it (each must succeed),
	// prep is joe's (through the store); cmd is the command, with %[1]s
	// the name of Work as the actor sees it and %[2]d the cell's number.
	pre  []string
	prep func(e *testEnv, joe *client, i int)
	cmd  string
	// listed: the cell passes when LIST shows Work, rather than by the
	// tagged answer.
	listed bool
}

func matrixRows() []aclMatrixRow {
	addMessage := func(e *testEnv, _ *client, _ int) { e.appendMessages("Work", 1, store.Flags{}) }
	child := func(prefix string) func(*testEnv, *client, int) {
		return func(_ *testEnv, joe *client, i int) {
			// Made after Work's list is set, so it inherits it.
			joe.send(fmt.Sprintf("p CREATE Work/%s%d", prefix, i))
			joe.expect(`^p OK .*`)
		}
	}
	return []aclMatrixRow{
		{name: "LIST", need: "l", cmd: `LIST "" "%[1]s"`, listed: true},
		{name: "SELECT", need: "r", cmd: `SELECT "%[1]s"`},
		{name: "EXAMINE", need: "r", cmd: `EXAMINE "%[1]s"`},
		{name: "STATUS", need: "r", cmd: `STATUS "%[1]s" (MESSAGES UNSEEN)`},
		{name: "MYRIGHTS", need: "lrikxa", anyOf: true, cmd: `MYRIGHTS "%[1]s"`},
		{name: "GETACL", need: "a", cmd: `GETACL "%[1]s"`},
		{name: "LISTRIGHTS", need: "a", cmd: `LISTRIGHTS "%[1]s" dave`},
		{name: "SETACL", need: "a", cmd: `SETACL "%[1]s" dave lr`},
		{name: "DELETEACL", need: "a", cmd: `DELETEACL "%[1]s" dave`},
		{name: "APPEND", need: "i", cmd: `APPEND "%[1]s" {5+}`},
		{name: "COPY into", need: "i", pre: []string{"SELECT INBOX"}, cmd: `COPY 1 "%[1]s"`},
		{name: "MOVE into", need: "i", pre: []string{"APPEND INBOX {5+}", "SELECT INBOX"}, cmd: `MOVE 1 "%[1]s"`},
		{name: "CREATE child", need: "k", cmd: `CREATE "%[1]s/New%[2]d"`},
		{name: "DELETE", need: "x", prep: child("Del"), cmd: `DELETE "%[1]s/Del%[2]d"`},
		{name: "RENAME", need: "kx", prep: child("Ren"), cmd: `RENAME "%[1]s/Ren%[2]d" "%[1]s/Renamed%[2]d"`},
		{name: "FETCH", base: "r", selected: true, prep: addMessage, cmd: `FETCH 1 (FLAGS BODY.PEEK[HEADER])`},
		{name: "SEARCH", base: "r", selected: true, prep: addMessage, cmd: `UID SEARCH ALL`},
		{name: "COPY from", base: "r", selected: true, prep: addMessage, cmd: `COPY 1 INBOX`},
		{name: `STORE \Seen`, base: "r", need: "s", selected: true, prep: addMessage, cmd: `STORE 1 +FLAGS (\Seen)`},
		{name: `STORE \Flagged`, base: "r", need: "w", selected: true, prep: addMessage, cmd: `STORE 1 +FLAGS (\Flagged)`},
		{name: `STORE \Deleted`, base: "r", need: "t", selected: true, prep: addMessage, cmd: `STORE 1 +FLAGS (\Deleted)`},
		{name: "STORE FLAGS", base: "r", need: "swt", anyOf: true, selected: true, prep: addMessage, cmd: `STORE 1 FLAGS (\Seen $Work)`},
		{name: "EXPUNGE", base: "r", need: "e", selected: true, prep: addMessage, cmd: `EXPUNGE`},
		{name: "MOVE from", base: "r", need: "et", selected: true, prep: addMessage, cmd: `MOVE 1 INBOX`},
	}
}

// allows reports whether rights satisfy the row.
func (r aclMatrixRow) allows(rights acl.Rights) bool {
	need, _ := acl.Parse(r.need)
	if r.anyOf {
		return rights.Any(need)
	}
	return rights.Has(need)
}

// TestACLMatrix runs every command that needs a right against every
// right, over real connections: for the owner (always allowed), for bob
// granted the rights by name, for carol granted them through "anyone",
// and for bob after the rights the command needs were taken away (while
// the mailbox is selected, for the commands on it). Each cell asserts the
// command's OK or NO.
func TestACLMatrix(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, u := range []string{"bob", "carol", "dave"} {
		e.addUser(u)
	}
	joe := e.dial()
	joe.login()
	joe.send("w CREATE Work")
	joe.expect(`^w OK .*`)
	e.appendMessages("Work", 1, store.Flags{})
	conns := map[string]*client{"joe": e.dial(), "bob": e.dialAs("bob"), "carol": e.dialAs("carol")}
	conns["joe"].login()
	for _, u := range []string{"joe", "bob", "carol"} {
		c := conns[u]
		c.send("a APPEND INBOX {5+}")
		c.send("hello")
		c.expect(`^a OK .*`)
	}
	setACL := func(identifier, rights string) {
		t.Helper()
		if rights == "" {
			rights = `""`
		}
		joe.send("s SETACL Work " + identifier + " " + rights)
		joe.expect(`^s OK .*`)
	}
	cellNo := 0
	// run plays one cell and reports whether the command was allowed.
	run := func(t *testing.T, actor string, row aclMatrixRow, afterSelect func()) bool {
		t.Helper()
		cellNo++
		c := conns[actor]
		mb := sharedName("joe", "Work")
		if actor == "joe" {
			mb = "Work"
		}
		if row.prep != nil {
			row.prep(e, joe, cellNo)
		}
		for _, p := range row.pre {
			c.send("p " + p)
			if strings.HasSuffix(p, "{5+}") {
				c.send("hello")
			}
			c.until("p OK")
		}
		if row.selected {
			c.send(`p SELECT "` + mb + `"`)
			c.until("p OK")
		}
		if afterSelect != nil {
			afterSelect()
		}
		line := strings.NewReplacer("%[1]s", mb, "%[2]d", fmt.Sprint(cellNo)).Replace(row.cmd)
		c.send("x " + line)
		if strings.HasSuffix(line, "{5+}") {
			c.send("hello")
		}
		lines := c.until("x ")
		last := lines[len(lines)-1]
		if strings.HasPrefix(last, "x BAD") || !strings.HasPrefix(last, "x OK") && !strings.HasPrefix(last, "x NO") {
			t.Fatalf("%s: %s: %q", actor, line, last)
		}
		if row.selected || len(row.pre) > 0 {
			c.send("p UNSELECT")
			c.until("p ")
		}
		if row.listed {
			for _, l := range lines {
				if strings.HasSuffix(l, ` "`+mb+`"`) || strings.HasSuffix(l, " "+mb) {
					return true
				}
			}
			return false
		}
		return strings.HasPrefix(last, "x OK")
	}
	letters := "lrswipkxtea"
	for _, row := range matrixRows() {
		t.Run(row.name, func(t *testing.T) {
			if !run(t, "joe", row, nil) {
				t.Errorf("owner: %s refused", row.name)
			}
			// Each single right on top of the base, the base alone, and
			// exactly what the row needs.
			grants := []string{row.base, row.base + row.need}
			for _, l := range letters {
				grants = append(grants, row.base+string(l))
			}
			for _, who := range []struct{ actor, identifier string }{{"bob", "bob"}, {"carol", acl.Anyone}} {
				for _, g := range grants {
					if row.anyOf && g == row.base+row.need {
						continue
					}
					rights, _ := acl.Parse(g)
					setACL("bob", "")
					setACL(acl.Anyone, "")
					setACL(who.identifier, rights.Stored())
					want := row.allows(rights)
					if got := run(t, who.actor, row, nil); got != want {
						t.Errorf("%s with %q via %s: allowed %v, want %v", row.name, rights.Stored(), who.identifier, got, want)
					}
				}
			}
			// Taken away: everything granted, then the rights the row
			// needs (all of lrikxa for MYRIGHTS, r for the others without
			// a right of their own) removed, after SELECT for the
			// commands on the selected mailbox.
			removed := row.need
			if removed == "" {
				removed = "r"
			}
			setACL(acl.Anyone, "")
			setACL("bob", acl.All.Stored())
			remove := func() { setACL("bob", "-"+removed) }
			if row.selected {
				if run(t, "bob", row, remove) {
					t.Errorf("%s allowed after %q was taken away", row.name, removed)
				}
			} else {
				remove()
				if run(t, "bob", row, nil) {
					t.Errorf("%s allowed after %q was taken away", row.name, removed)
				}
			}
		})
	}
}
