package server

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The mailbox commands as go-imap's client uses them.
func TestMailboxCommandsImapclient(t *testing.T) {
	e := newTestEnv(t, nil)
	e.appendMessages("INBOX", 2, store.Flags{})
	e.appendMessages("INBOX", 1, store.Flags{System: store.FlagSeen})
	cl, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cl.Create("Archive/2024", nil).Wait())
	must(cl.Create("Sent Items", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrSent}}).Wait())
	must(cl.Subscribe("Sent Items").Wait())
	must(cl.Subscribe("INBOX").Wait())
	if err := cl.Create("Archive", nil).Wait(); err == nil {
		t.Fatal("CREATE of an existing mailbox succeeded")
	} else if ie, ok := err.(*imap.Error); !ok || ie.Code != imap.ResponseCodeAlreadyExists {
		t.Fatalf("CREATE existing: %v", err)
	}

	list, err := cl.List("", "*", &imap.ListOptions{
		ReturnSubscribed: true, ReturnChildren: true, ReturnSpecialUse: true,
		ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true},
	}).Collect()
	must(err)
	var names []string
	byName := map[string]*imap.ListData{}
	for _, l := range list {
		names = append(names, l.Mailbox)
		byName[l.Mailbox] = l
		if l.Delim != '/' {
			t.Errorf("%s: delimiter %q", l.Mailbox, l.Delim)
		}
	}
	if want := []string{"INBOX", "Archive", "Archive/2024", "Sent Items"}; !slices.Equal(names, want) {
		t.Fatalf("LIST names %q, want %q", names, want)
	}
	inbox := byName["INBOX"]
	if !slices.Contains(inbox.Attrs, imap.MailboxAttrSubscribed) || !slices.Contains(inbox.Attrs, imap.MailboxAttrHasNoChildren) {
		t.Errorf("INBOX attrs %v", inbox.Attrs)
	}
	if inbox.Status == nil || *inbox.Status.NumMessages != 3 || *inbox.Status.NumUnseen != 2 {
		t.Errorf("INBOX status %+v", inbox.Status)
	}
	if a := byName["Archive"].Attrs; !slices.Contains(a, imap.MailboxAttrHasChildren) {
		t.Errorf("Archive attrs %v", a)
	}
	if a := byName["Sent Items"].Attrs; !slices.Contains(a, imap.MailboxAttrSent) || !slices.Contains(a, imap.MailboxAttrSubscribed) {
		t.Errorf("Sent Items attrs %v", a)
	}

	sub, err := cl.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	must(err)
	if len(sub) != 2 || sub[0].Mailbox != "INBOX" || sub[1].Mailbox != "Sent Items" {
		t.Fatalf("subscribed %+v", sub)
	}
	special, err := cl.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	must(err)
	if len(special) != 1 || special[0].Mailbox != "Sent Items" {
		t.Fatalf("special-use %+v", special)
	}

	st, err := cl.Status("INBOX", &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true,
		NumDeleted: true, Size: true, AppendLimit: true, HighestModSeq: true,
	}).Wait()
	must(err)
	if *st.NumMessages != 3 || st.UIDNext != 4 || st.UIDValidity == 0 || *st.NumUnseen != 2 ||
		*st.NumDeleted != 0 || *st.Size <= 0 || st.AppendLimit == nil || st.HighestModSeq == 0 {
		t.Fatalf("status %+v", st)
	}

	must(cl.Rename("Archive", "Old", nil).Wait())
	if _, err := cl.Status("Old/2024", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("renamed child: %v", err)
	}
	must(cl.Delete("Old/2024").Wait())
	if err := cl.Delete("Old/2024").Wait(); err == nil {
		t.Fatal("second DELETE succeeded")
	} else if ie, ok := err.(*imap.Error); !ok || ie.Code != imap.ResponseCodeNonExistent {
		t.Fatalf("DELETE missing: %v", err)
	}
	must(cl.Unsubscribe("Sent Items").Wait())
	ns, err := cl.Namespace().Wait()
	must(err)
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" || ns.Shared != nil {
		t.Fatalf("namespace %+v", ns)
	}
	left, err := cl.List("", "%", nil).Collect()
	must(err)
	if len(left) != 3 || left[1].Mailbox != "Old" || left[2].Mailbox != "Sent Items" {
		t.Fatalf("after rename/delete %+v", left)
	}
	must(cl.Logout().Wait())
}
