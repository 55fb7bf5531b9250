package server

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/replica"
)

// addUser makes another login with its store; its password is testPass.
func (e *testEnv) addUser(name string) {
	e.t.Helper()
	if err := e.srv.cfg.Auth.(*auth.Accounts).Add(name, testPass); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), name); err != nil {
		e.t.Fatal(err)
	}
}

// dialAs opens a raw connection logged in as user.
func (e *testEnv) dialAs(user string) *client {
	e.t.Helper()
	c := e.dial()
	c.send("L1 LOGIN " + user + " " + testPass)
	c.expect(`^L1 OK \[CAPABILITY .*\] Logged in$`)
	return c
}

// TestACLCapability: ACL and RIGHTS=texk are offered with a store that
// keeps access control lists, and the other users' namespace with them.
func TestACLCapability(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial()
	c.login()
	c.send("a CAPABILITY")
	caps := c.expect(`^\* CAPABILITY .*`, `^a OK .*`)[0]
	for _, want := range []string{" ACL", " RIGHTS=texk", " LIST-MYRIGHTS"} {
		if !strings.Contains(caps, want) {
			t.Errorf("capability %q missing from %s", want, caps)
		}
	}
	c.send("b NAMESPACE")
	c.expect(`^\* NAMESPACE \(\("" "/"\)\) \(\("Other Users/" "/"\)\) NIL$`, `^b OK .*`)
}

// TestACLExamples runs the examples of RFC 4314 3 and 2.1.1 on the test
// user's own mailboxes, with users fred, chris, david, byron and john.
func TestACLExamples(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, u := range []string{"fred", "chris", "david", "byron", "john", "smith"} {
		e.addUser(u)
	}
	c := e.dial()
	c.login()
	c.send("c1 CREATE INBOX/Drafts")
	c.expect(`^c1 OK .*`)

	// The owner holds every right; an empty list shows only that.
	c.send("A001 GETACL INBOX/Drafts")
	c.expect(`^\* ACL INBOX/Drafts joe lrswipkxteacd$`, `^A001 OK .*`)
	c.send("A002 SETACL INBOX/Drafts Fred rwipslxetad")
	c.expect(`^A002 OK .*`)
	c.send("A003 SETACL INBOX/Drafts Chris lrswi")
	c.expect(`^A003 OK .*`)
	c.send("A004 GETACL INBOX/Drafts")
	c.expect(`^\* ACL INBOX/Drafts joe lrswipkxteacd chris lrswi fred lrswipxteacd$`, `^A004 OK .*`)
	// 3.1: "+cda" adds k, x, e, t and a.
	c.send("A005 SETACL INBOX/Drafts Chris +cda")
	c.expect(`^A005 OK .*`)
	c.send("A006 GETACL INBOX/Drafts")
	c.expect(`^\* ACL INBOX/Drafts joe lrswipkxteacd chris lrswikxteacd fred lrswipxteacd$`, `^A006 OK .*`)
	c.send("A035 SETACL INBOX/Drafts John lrQswicda")
	c.expect(`^A035 BAD .*[Uu]pper-case.*`)
	c.send("A036 SETACL INBOX/Drafts John lrqswicda")
	c.expect(`^A036 BAD .*"q".*`)
	// 2.1.1: "d" is e and t here, "c" is k and x.
	c.send("A007 SeTacl INBOX/Drafts David lrswida")
	c.expect(`^A007 OK .*`)
	c.send("A008 SETACL INBOX/Drafts Byron lrswikda")
	c.expect(`^A008 OK .*`)
	c.send("A009 MYRIGHTS INBOX/Drafts")
	c.expect(`^\* MYRIGHTS INBOX/Drafts lrswipkxteacd$`, `^A009 OK .*`)

	// 3.2: DELETEACL removes the entry; - removes rights.
	c.send("B002 DeleteAcl INBOX/Drafts Fred")
	c.expect(`^B002 OK .*`)
	c.send("B003 SETACL INBOX/Drafts Chris -cdx")
	c.expect(`^B003 OK .*`)
	c.send("B004 GETACL INBOX/Drafts")
	c.expect(`^\* ACL INBOX/Drafts joe lrswipkxteacd byron lrswikteacd chris lrswia david lrswitead$`, `^B004 OK .*`)

	// 3.4: LISTRIGHTS, the identifier as the client spelled it.
	c.send("a001 LISTRIGHTS INBOX/Drafts Smith")
	c.expect(`^\* LISTRIGHTS INBOX/Drafts Smith "" l r s w i p k x t e a c d$`, `^a001 OK .*`)
	c.send("a005 listrights INBOX/Drafts anyone")
	c.expect(`^\* LISTRIGHTS INBOX/Drafts anyone "" l r s w i p k x t e a c d$`, `^a005 OK .*`)
	c.send("a006 LISTRIGHTS INBOX/Drafts joe")
	c.expect(`^\* LISTRIGHTS INBOX/Drafts joe lrswipkxteacd$`, `^a006 OK .*`)

	// Error paths.
	c.send("e1 SETACL INBOX/Drafts nobody lr")
	c.expect(`^e1 NO No such identifier$`)
	c.send("e2 SETACL INBOX/Drafts -fred lr")
	c.expect(`^e2 NO \[CANNOT\] Negative rights are not supported$`)
	c.send("e3 SETACL INBOX/Drafts joe lr")
	c.expect(`^e3 NO \[CANNOT\] .*owner.*`)
	c.send(`e4 SETACL INBOX/Drafts "" lr`)
	c.expect(`^e4 BAD .*`)
	c.send("e5 GETACL Nowhere")
	c.expect(`^e5 NO \[NONEXISTENT\] .*`)
	c.send("e6 SETACL INBOX/Drafts fred")
	c.expect(`^e6 BAD .*`)
	c.send("e7 LISTRIGHTS INBOX/Drafts nobody")
	c.expect(`^e7 NO No such identifier$`)
	c.send("e8 DELETEACL INBOX/Drafts joe")
	c.expect(`^e8 NO \[CANNOT\] .*owner.*`)
	c.send("e9 MYRIGHTS Nowhere")
	c.expect(`^e9 NO \[NONEXISTENT\] .*`)
}

// TestACLWhenReplicating: a replicating server's store (wrapped by
// replica.Notify) replicates access control lists and URLAUTH keys, so
// ACL and the other users' namespace are offered there, and SETACL,
// DELETEACL, GENURLAUTH's first key and RESETKEY each trigger a push of
// the owner (the changed callback).
func TestACLWhenReplicating(t *testing.T) {
	var mu sync.Mutex
	pushed := map[string]int{}
	e := newTestEnv(t, func(c *Config) {
		c.Store = replica.Notify(c.Store, func(user string) { mu.Lock(); pushed[user]++; mu.Unlock() })
	})
	e.addUser("bob")
	pushes := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := pushed[testUser]
		pushed[testUser] = 0
		return n
	}
	c := e.dial()
	c.login()
	c.send("a CAPABILITY")
	caps := c.expect(`^\* CAPABILITY .*`, `^a OK .*`)[0]
	for _, want := range []string{" ACL", " RIGHTS=", " LIST-MYRIGHTS", " URLAUTH"} {
		if !strings.Contains(caps, want) {
			t.Errorf("%q not offered while replicating: %s", want, caps)
		}
	}
	c.send("b NAMESPACE")
	c.expect(`^\* NAMESPACE .*"Other Users/".*`, `^b OK .*`)
	pushes()
	c.send("c SETACL INBOX bob lr")
	c.expect(`^c OK .*`)
	if n := pushes(); n == 0 {
		t.Error("SETACL pushed nothing")
	}
	c.send("d GETACL INBOX")
	c.expect(`^\* ACL INBOX .*bob lr.*`, `^d OK .*`)
	c.send("e DELETEACL INBOX bob")
	c.expect(`^e OK .*`)
	if n := pushes(); n == 0 {
		t.Error("DELETEACL pushed nothing")
	}
	c.send("f GENURLAUTH \"" + urlauthRump + "\" INTERNAL")
	c.expect(`^\* GENURLAUTH .*`, `^f OK .*`)
	if n := pushes(); n == 0 {
		t.Error("the first GENURLAUTH (a new key) pushed nothing")
	}
	c.send("g GENURLAUTH \"" + urlauthRump + "\" INTERNAL")
	c.expect(`^\* GENURLAUTH .*`, `^g OK .*`)
	if n := pushes(); n != 0 {
		t.Errorf("a GENURLAUTH with the key made pushed %d times", n)
	}
	c.send("h RESETKEY INBOX")
	c.expect(`^h OK .*`)
	if n := pushes(); n == 0 {
		t.Error("RESETKEY pushed nothing")
	}
}
