package server

import (
	"context"
	"errors"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// rfc5258Tree is the hierarchy of RFC 9051 6.3.9.8 (RFC 5258 5) example 1,
// with the subscriptions of example 2.
func rfc5258Tree(t *testing.T, e *testEnv) {
	a := e.account()
	mbxCreate(t, a, "Fruit", "Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable", "Vegetable/Broccoli", "Vegetable/Corn")
	mbxSubscribe(t, a, "INBOX", "Fruit/Banana", "Fruit/Peach", "Vegetable", "Vegetable/Broccoli")
}

// The LIST-EXTENDED examples 1-6. Tidemark always sends \HasChildren or
// \HasNoChildren (RFC 9051 6.3.9.5 allows it unasked), lists INBOX first
// and writes names as atoms where they are atoms; otherwise the lines are
// the RFC's.
func TestListExtendedRFCExamples(t *testing.T) {
	e := newTestEnv(t, nil)
	rfc5258Tree(t, e)
	c := e.dial()
	c.loginRev2()
	c.mbxRun(`A01 LIST "" "*"`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" Fruit`,
		`* LIST (\HasNoChildren) "/" Fruit/Apple`,
		`* LIST (\HasNoChildren) "/" Fruit/Banana`,
		`* LIST (\HasNoChildren) "/" Tofu`,
		`* LIST (\HasChildren) "/" Vegetable`,
		`* LIST (\HasNoChildren) "/" Vegetable/Broccoli`,
		`* LIST (\HasNoChildren) "/" Vegetable/Corn`,
		"A01 OK LIST completed")
	c.mbxRun(`A02 LIST (SUBSCRIBED) "" "*"`,
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasNoChildren \Subscribed) "/" Fruit/Banana`,
		`* LIST (\NonExistent \HasNoChildren \Subscribed) "/" Fruit/Peach`,
		`* LIST (\HasChildren \Subscribed) "/" Vegetable`,
		`* LIST (\HasNoChildren \Subscribed) "/" Vegetable/Broccoli`,
		"A02 OK LIST completed")
	top := []string{
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" Fruit`,
		`* LIST (\HasNoChildren) "/" Tofu`,
		`* LIST (\HasChildren) "/" Vegetable`,
	}
	c.mbxRun(`A03 LIST () "" "%" RETURN (CHILDREN)`, append(top, "A03 OK LIST completed")...)
	c.mbxRun(`A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)`, append(top, "A04 OK LIST completed")...)
	c.mbxRun(`A05 LIST (REMOTE SUBSCRIBED) "" "*"`,
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasNoChildren \Subscribed) "/" Fruit/Banana`,
		`* LIST (\NonExistent \HasNoChildren \Subscribed) "/" Fruit/Peach`,
		`* LIST (\HasChildren \Subscribed) "/" Vegetable`,
		`* LIST (\HasNoChildren \Subscribed) "/" Vegetable/Broccoli`,
		"A05 OK LIST completed")
	c.mbxRun(`A06 LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)`,
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasChildren) "/" Fruit`,
		`* LIST (\HasNoChildren) "/" Fruit/Apple`,
		`* LIST (\HasNoChildren \Subscribed) "/" Fruit/Banana`,
		`* LIST (\HasNoChildren) "/" Tofu`,
		`* LIST (\HasChildren \Subscribed) "/" Vegetable`,
		`* LIST (\HasNoChildren \Subscribed) "/" Vegetable/Broccoli`,
		`* LIST (\HasNoChildren) "/" Vegetable/Corn`,
		"A06 OK LIST completed")

	// Several patterns, a reference, INBOX in any case, duplicates once.
	c.mbxRun(`B1 LIST "" ("inbox" "Veg*" "Vegetable")`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" Vegetable`,
		`* LIST (\HasNoChildren) "/" Vegetable/Broccoli`,
		`* LIST (\HasNoChildren) "/" Vegetable/Corn`,
		"B1 OK LIST completed")
	c.mbxRun(`B2 LIST "Fruit/" %`,
		`* LIST (\HasNoChildren) "/" Fruit/Apple`,
		`* LIST (\HasNoChildren) "/" Fruit/Banana`,
		"B2 OK LIST completed")
	c.mbxRun(`B3 LIST "" In%`, `* LIST (\HasNoChildren) "/" INBOX`, "B3 OK LIST completed")
	c.mbxRun(`B4 LIST "" %/%`,
		`* LIST (\HasNoChildren) "/" Fruit/Apple`,
		`* LIST (\HasNoChildren) "/" Fruit/Banana`,
		`* LIST (\HasNoChildren) "/" Vegetable/Broccoli`,
		`* LIST (\HasNoChildren) "/" Vegetable/Corn`,
		"B4 OK LIST completed")
	c.mbxRun(`B5 LIST "" *o*o*`, `* LIST (\HasNoChildren) "/" Vegetable/Broccoli`, "B5 OK LIST completed")
	c.mbxRun(`B6 LIST "" ""`, `* LIST (\Noselect) "/" ""`, "B6 OK LIST completed")
	c.mbxRun(`B7 LIST "" ("")`, "B7 OK LIST completed")
	c.mbxRun(`B8 LIST "" Nothing*`, "B8 OK LIST completed")
}

// Example 7: \HasChildren against CHILDINFO.
func TestListRecursiveMatchExample7(t *testing.T) {
	e := newTestEnv(t, nil)
	a := e.account()
	mbxCreate(t, a, "Foo", "Foo/Bar", "Foo/Baz", "Moo")
	mbxSubscribe(t, a, "Foo/Baz")
	c := e.dial()
	c.loginRev2()
	c.mbxRun(`CA3 LIST "" "%" RETURN (CHILDREN)`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasChildren) "/" Foo`,
		`* LIST (\HasNoChildren) "/" Moo`,
		"CA3 OK LIST completed")
	c.mbxRun(`C02 LIST (SUBSCRIBED) "" "*"`, `* LIST (\HasNoChildren \Subscribed) "/" Foo/Baz`, "C02 OK LIST completed")
	c.mbxRun(`C03 LIST (SUBSCRIBED) "" "%"`, "C03 OK LIST completed")
	c.mbxRun(`C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`,
		`* LIST (\HasChildren) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))`, "C04 OK LIST completed")
	// A1: Foo subscribed too.
	mbxSubscribe(t, a, "Foo")
	c.mbxRun(`C05 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`,
		`* LIST (\HasChildren \Subscribed) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))`, "C05 OK LIST completed")
	// A2: Foo neither exists nor is subscribed.
	c.mbxRun(`C06 UNSUBSCRIBE Foo`, "C06 OK UNSUBSCRIBE completed")
	c.mbxRun(`C07 DELETE Foo`, "C07 OK DELETE completed")
	c.mbxRun(`C08 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`,
		`* LIST (\NonExistent \HasChildren) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))`, "C08 OK LIST completed")
	// B: nothing subscribed.
	c.mbxRun(`C09 UNSUBSCRIBE Foo/Baz`, "C09 OK UNSUBSCRIBE completed")
	c.mbxRun(`C10 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`, "C10 OK LIST completed")
	// C: only Foo and Moo subscribed.
	mbxCreate(t, a, "Foo")
	mbxSubscribe(t, a, "Foo", "Moo")
	c.mbxRun(`C11 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)`,
		`* LIST (\HasChildren \Subscribed) "/" Foo`,
		`* LIST (\HasNoChildren \Subscribed) "/" Moo`,
		"C11 OK LIST completed")
}

// Examples 8, 9 and 10: CHILDINFO whether or not the children match, no
// redundant CHILDINFO for a name that is not selected itself, and missing
// hierarchy levels.
func TestListRecursiveMatchExamples8to10(t *testing.T) {
	e := newTestEnv(t, nil)
	a := e.account()
	mbxCreate(t, a, "foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2/mamba", "qux2/bar2")
	mbxDelete(t, a, "qux2")
	mbxSubscribe(t, a, "foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2", "eps2/mamba", "qux2/bar2")
	c := e.dial()
	c.loginRev2()
	c.mbxRun(`D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"`,
		`* LIST (\HasNoChildren \Subscribed) "/" baz2/bar2`,
		`* LIST (\HasNoChildren \Subscribed) "/" baz2/bar22`,
		`* LIST (\HasNoChildren \Subscribed) "/" baz2/bar222`,
		`* LIST (\HasChildren \Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))`,
		`* LIST (\HasChildren) "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))`,
		`* LIST (\HasNoChildren \Subscribed) "/" foo2/bar2`,
		`* LIST (\HasNoChildren \Subscribed) "/" qux2/bar2`,
		"D03 OK LIST completed")

	// Example 9: a subscribed child that does not exist.
	mbxCreate(t, a, "foo")
	mbxSubscribe(t, a, "foo/bar")
	c.mbxRun(`a1 LIST "" ("foo")`, `* LIST (\HasNoChildren) "/" foo`, "a1 OK LIST completed")
	c.mbxRun(`a2 LIST (SUBSCRIBED) "" "foo/*"`, `* LIST (\NonExistent \HasNoChildren \Subscribed) "/" foo/bar`, "a2 OK LIST completed")
	c.mbxRun(`a3 LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)`,
		`* LIST (\HasNoChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))`, "a3 OK LIST completed")

	// Example 10: "music" does not exist, "music/rock" does.
	mbxCreate(t, a, "music/rock")
	mbxDelete(t, a, "music")
	c.mbxRun(`b2 LIST () "" music%`, `* LIST (\NonExistent \HasChildren) "/" music`, "b2 OK LIST completed")
	c.mbxRun(`b3 LIST "" (music% music/rock)`, `* LIST (\HasNoChildren) "/" music/rock`, "b3 OK LIST completed")
	c.mbxRun(`b4 LIST "" music*`, `* LIST (\HasNoChildren) "/" music/rock`, "b4 OK LIST completed")
}

// Example 11 (RFC 5819 LIST-STATUS): STATUS follows each selectable
// mailbox that meets the selection criteria, and nothing else.
func TestListStatus(t *testing.T) {
	e := newTestEnv(t, nil)
	a := e.account()
	mbxCreate(t, a, "foo", "bar/x")
	mbxDelete(t, a, "bar")
	e.appendMessages("INBOX", 2, store.Flags{})
	e.appendMessages("INBOX", 1, store.Flags{System: store.FlagSeen})
	e.appendMessages("foo", 2, store.Flags{})
	mbxSubscribe(t, a, "INBOX", "foo/sub")
	c := e.dial()
	c.loginRev2()
	c.mbxRun(`A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* STATUS INBOX (MESSAGES 3 UNSEEN 2)`,
		`* LIST (\NonExistent \HasChildren) "/" bar`,
		`* LIST (\HasNoChildren) "/" foo`,
		`* STATUS foo (MESSAGES 2 UNSEEN 2)`,
		"A01 OK LIST completed")
	c.mbxRun(`A02 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (STATUS (MESSAGES))`,
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* STATUS INBOX (MESSAGES 3)`,
		`* LIST (\HasNoChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))`,
		"A02 OK LIST completed")
}

// RFC 6154 special-use attributes: CREATE with USE, LIST (SPECIAL-USE),
// RETURN (SPECIAL-USE), and the attributes in every LIST.
func TestListSpecialUse(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial()
	c.loginRev2()
	c.mbxRun(`t1 CREATE ToDo`, "t1 OK CREATE completed")
	c.mbxRun(`t2 CREATE SentMail (USE (\Sent))`, "t2 OK CREATE completed")
	c.mbxRun(`t3 CREATE MyDrafts (USE (\drafts))`, "t3 OK CREATE completed")
	c.mbxRun(`t4 CREATE Projects/Trash (use (\Trash))`, "t4 OK CREATE completed")
	c.mbxRun(`t5 LIST "" "%" RETURN (SPECIAL-USE)`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Drafts) "/" MyDrafts`,
		`* LIST (\HasChildren) "/" Projects`,
		`* LIST (\HasNoChildren \Sent) "/" SentMail`,
		`* LIST (\HasNoChildren) "/" ToDo`,
		"t5 OK LIST completed")
	c.mbxRun(`t6 LIST (SPECIAL-USE) "" "*"`,
		`* LIST (\HasNoChildren \Drafts) "/" MyDrafts`,
		`* LIST (\HasNoChildren \Trash) "/" Projects/Trash`,
		`* LIST (\HasNoChildren \Sent) "/" SentMail`,
		"t6 OK LIST completed")
	c.mbxRun(`t7 LIST (SPECIAL-USE) "" "%"`,
		`* LIST (\HasNoChildren \Drafts) "/" MyDrafts`,
		`* LIST (\HasNoChildren \Sent) "/" SentMail`,
		"t7 OK LIST completed")
	c.mbxRun(`t8 LIST (SPECIAL-USE RECURSIVEMATCH) "" "%"`,
		`* LIST (\HasNoChildren \Drafts) "/" MyDrafts`,
		`* LIST (\HasChildren) "/" Projects ("CHILDINFO" ("SPECIAL-USE"))`,
		`* LIST (\HasNoChildren \Sent) "/" SentMail`,
		"t8 OK LIST completed")
	// RENAME keeps the special use with the mailbox.
	c.mbxRun(`t9 RENAME SentMail Archive/Sent`, "t9 OK RENAME completed")
	c.mbxRun(`t10 LIST "" Archive/*`, `* LIST (\HasNoChildren \Sent) "/" Archive/Sent`, "t10 OK LIST completed")
}

// IMAP4rev1 clients read and write modified UTF-7 names, IMAP4rev2 (and
// UTF8=ACCEPT) clients UTF-8; the store holds UTF-8.
func TestMailboxNamesUTF7AndUTF8(t *testing.T) {
	e := newTestEnv(t, nil)
	v1 := e.dial()
	v1.login()
	v2 := e.dial()
	v2.loginRev2()
	v1.mbxRun(`a CREATE Entw&APw-rfe`, "a OK CREATE completed")
	v2.mbxRun(`b CREATE "Ordner/Übersicht"`, "b OK CREATE completed")
	v1.mbxRun(`c LIST "" *`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren) "/" Entw&APw-rfe`,
		`* LIST (\HasChildren) "/" Ordner`,
		`* LIST (\HasNoChildren) "/" Ordner/&ANw-bersicht`,
		"c OK LIST completed")
	v2.mbxRun(`d LIST "" *`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren) "/" "Entwürfe"`,
		`* LIST (\HasChildren) "/" Ordner`,
		`* LIST (\HasNoChildren) "/" "Ordner/Übersicht"`,
		"d OK LIST completed")
	// Patterns and references are converted too.
	v1.mbxRun(`e LIST "Ordner/" &ANw-*`, `* LIST (\HasNoChildren) "/" Ordner/&ANw-bersicht`, "e OK LIST completed")
	v2.mbxRun(`f LIST "" "Entw%rfe"`, `* LIST (\HasNoChildren) "/" "Entwürfe"`, "f OK LIST completed")
	v1.mbxRun(`g STATUS Entw&APw-rfe (MESSAGES)`, `* STATUS Entw&APw-rfe (MESSAGES 0)`, "g OK STATUS completed")
	v2.mbxRun(`h STATUS "Entwürfe" (MESSAGES)`, `* STATUS "Entwürfe" (MESSAGES 0)`, "h OK STATUS completed")
	v1.mbxRun(`i RENAME Entw&APw-rfe Brouillons/&AMk-t&AOk-`, "i OK RENAME completed")
	v2.mbxRun(`j LIST "" Brouillons/*`, `* LIST (\HasNoChildren) "/" "Brouillons/Été"`, "j OK LIST completed")
	v1.mbxRun(`k SUBSCRIBE Brouillons/&AMk-t&AOk-`, "k OK SUBSCRIBE completed")
	v1.mbxRun(`l LSUB "" *`, `* LSUB () "/" Brouillons/&AMk-t&AOk-`, "l OK LSUB completed")
}

// TestNamesNotModifiedUTF7: a name that is not valid modified UTF-7 names
// no mailbox. Lookups answer NO as for a missing mailbox, LIST and LSUB
// match nothing and answer OK, and only CREATE and RENAME refuse the name.
func TestNamesNotModifiedUTF7(t *testing.T) {
	e := newTestEnv(t, nil)
	mbxCreate(t, e.account(), "a&b", "Jobs")
	c := e.dial()
	c.login()
	nonexistent := "NO [NONEXISTENT] No such mailbox: the name is not valid modified UTF-7"
	cannot := "NO [CANNOT] Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)"
	// The mailbox "a&b" is a&-b in modified UTF-7; a&b itself is invalid
	// and must not reach it.
	c.mbxRun(`a LIST "" a*`, `* LIST (\HasNoChildren) "/" a&-b`, "a OK LIST completed")
	for _, name := range []string{"a&b", "&Jjo", `"&"`, "&AGE", "&Jjo-&AGE-"} {
		c.mbxRun("b CREATE "+name, "b "+cannot)
		c.mbxRun("c RENAME Jobs "+name, "c "+cannot)
		c.mbxRun("d RENAME "+name+" Other", "d "+nonexistent)
		c.mbxRun("e EXAMINE "+name, "e "+nonexistent)
		c.mbxRun("f STATUS "+name+" (MESSAGES)", "f "+nonexistent)
		c.mbxRun("g DELETE "+name, "g "+nonexistent)
		c.mbxRun(`h LIST "" `+name, "h OK LIST completed")
		c.mbxRun(`i LIST "" (`+name+` *)`, `* LIST (\HasNoChildren) "/" INBOX`, `* LIST (\HasNoChildren) "/" Jobs`,
			`* LIST (\HasNoChildren) "/" a&-b`, "i OK LIST completed")
		c.mbxRun(`j LIST `+name+` *`, "j OK LIST completed")
		c.mbxRun(`k LSUB "" `+name, "k OK LSUB completed")
	}
	// SELECT closes the mailbox selected before, then fails.
	c.send("l SELECT Jobs")
	c.until("l OK [READ-WRITE]")
	c.mbxRun("m SELECT a&b", "* OK [CLOSED] Previous mailbox closed", "m "+nonexistent)
	c.mbxRun("n FETCH 1 FLAGS", "n BAD FETCH is not valid in the authenticated state")
	c.mbxRun("o APPEND a&b {1+}\r\nx", "o "+nonexistent)
	// The valid spelling still works.
	c.send("p SELECT a&-b")
	c.until("p OK [READ-WRITE]")
}

// One user can neither name, list nor touch another user's mailboxes:
// names are per user and the store rejects ".." levels.
func TestMailboxIsolationBetweenUsers(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := context.Background()
	if err := e.store.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	bob, err := e.store.Open(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	mbxCreate(t, bob, "Secret", "Secret/Plans")
	mbxSubscribe(t, bob, "Secret")

	c := e.dial()
	c.loginRev2()
	c.mbxRun(`a LIST "" "*"`, `* LIST (\HasNoChildren) "/" INBOX`, "a OK LIST completed")
	c.mbxRun(`b LIST (SUBSCRIBED) "" "*"`, "b OK LIST completed")
	c.mbxRun(`c LIST "../bob/" "*"`, "c OK LIST completed")
	c.mbxRun(`d LIST "" "../*"`, "d OK LIST completed")
	c.mbxRun(`e SELECT ../bob/INBOX`, "e NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`f STATUS ../bob/Secret (MESSAGES)`, "f NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`g DELETE ../bob/Secret`, "g NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`h RENAME ../bob/Secret Mine`, "h NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`i CREATE ../bob/Secret/x`, "i NO [CANNOT] Invalid mailbox name")
	c.mbxRun(`j CREATE /bob/Secret`, "j NO [CANNOT] Invalid mailbox name")
	// A name that looks like bob's is just one of joe's own.
	c.mbxRun(`k CREATE bob/Secret`, "k OK CREATE completed")
	c.mbxRun(`l DELETE bob/Secret`, "l OK DELETE completed")
	c.mbxRun(`m STATUS Secret (MESSAGES)`, "m NO [NONEXISTENT] No such mailbox")
	c.mbxRun(`n LSUB "" "*"`, "n OK LSUB completed")

	mbs, err := bob.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(mbs) != 3 || mbs[0].Name != "INBOX" || mbs[1].Name != "Secret" || mbs[2].Name != "Secret/Plans" {
		t.Fatalf("bob's mailboxes changed: %+v", mbs)
	}
}

func TestLsubNamespaceSubscribe(t *testing.T) {
	e := newTestEnv(t, nil)
	rfc5258Tree(t, e)
	c := e.dial()
	c.login()
	c.mbxRun(`a NAMESPACE`, `* NAMESPACE (("" "/")) (("Other Users/" "/")) NIL`, "a OK NAMESPACE completed")
	c.mbxRun(`b SUBSCRIBE Gone`, "b OK SUBSCRIBE completed")
	c.mbxRun(`c SUBSCRIBE Gone`, "c OK SUBSCRIBE completed")
	c.mbxRun(`d LSUB "" *`,
		`* LSUB () "/" INBOX`,
		`* LSUB () "/" Fruit/Banana`,
		`* LSUB () "/" Fruit/Peach`,
		`* LSUB () "/" Gone`,
		`* LSUB () "/" Vegetable`,
		`* LSUB () "/" Vegetable/Broccoli`,
		"d OK LSUB completed")
	// RFC 3501 6.3.9: "%" returns the unsubscribed parent with \Noselect.
	c.mbxRun(`e LSUB "" %`,
		`* LSUB () "/" INBOX`,
		`* LSUB (\Noselect) "/" Fruit`,
		`* LSUB () "/" Gone`,
		`* LSUB () "/" Vegetable`,
		"e OK LSUB completed")
	c.mbxRun(`f UNSUBSCRIBE Gone`, "f OK UNSUBSCRIBE completed")
	c.mbxRun(`g UNSUBSCRIBE Gone`, "g OK UNSUBSCRIBE completed")
	c.mbxRun(`h LSUB "Fruit/" %`,
		`* LSUB () "/" Fruit/Banana`,
		`* LSUB () "/" Fruit/Peach`,
		"h OK LSUB completed")
	c.mbxRun(`i LSUB "" ""`, `* LSUB (\Noselect) "/" ""`, "i OK LSUB completed")
	// Subscriptions survive the deletion of the mailbox (RFC 9051 6.3.7).
	c.mbxRun(`j DELETE Vegetable/Broccoli`, "j OK DELETE completed")
	c.mbxRun(`k LIST (SUBSCRIBED) "" Vegetable/*`,
		`* LIST (\NonExistent \HasNoChildren \Subscribed) "/" Vegetable/Broccoli`, "k OK LIST completed")
}

// failingStatus is the real store whose accounts fail Status of one
// mailbox with an I/O-like error, as a damaged database would.
type failingStatus struct {
	store.Store
	name string
}

func (f *failingStatus) Open(ctx context.Context, user string) (store.Account, error) {
	a, err := f.Store.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return &failingStatusAccount{Account: a, name: f.name}, nil
}

type failingStatusAccount struct {
	store.Account
	name string
}

func (a *failingStatusAccount) Status(ctx context.Context, id store.MailboxID) (store.MailboxStatus, error) {
	st, err := a.Account.Status(ctx, id)
	if err == nil && st.Name == a.name {
		return store.MailboxStatus{}, errors.New("disk I/O error")
	}
	return st, err
}

// LIST RETURN (STATUS) leaves out the STATUS of a mailbox deleted in
// between, but does not hide any other failure: the command fails.
func TestListReturnStatusReportsStoreErrors(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Store = &failingStatus{Store: c.Store, name: "Broken"} })
	if _, err := env.account().CreateMailbox(context.Background(), "Broken", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.login()
	c.send(`a LIST "" INBOX RETURN (STATUS (MESSAGES))`)
	c.expect(`^\* LIST .*INBOX$`, `^\* STATUS INBOX \(MESSAGES 0\)$`, `^a OK .*`)
	c.send(`b LIST "" Broken RETURN (STATUS (MESSAGES))`)
	c.expect(`^\* LIST .*Broken$`, `^b NO .*`)
}
