package replica

import (
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestNotifyPassesAbilitiesThrough: the wrapper continuous replication
// puts around the store keeps what the store offers — group commit,
// default mailboxes, REPLACE, the text index, stored sort keys, \Recent —
// and the abilities that change mail call changed like other writes.
func TestNotifyPassesAbilitiesThrough(t *testing.T) {
	n := newNode(t, "a")
	n.acct("alice")
	var changes int
	st := Notify(n.store, func(string) { changes++ })
	if _, ok := st.(store.DeferredSync); !ok {
		t.Fatal("the wrapped store does not let sessions defer their syncs")
	}
	if err := st.(store.DeferredSync).MakeDurable(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	made, err := a.(store.DefaultCreator).CreateDefaults(ctx, []store.DefaultMailbox{{Name: "Drafts", SpecialUse: `\Drafts`}})
	if err != nil || len(made) != 1 || changes != 1 {
		t.Fatalf("CreateDefaults made %v (%v), %d changes announced", made, err, changes)
	}
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	body := "From: a@example.org\r\nSubject: xylograph notes\r\n\r\nabout a xylograph\r\n"
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := a.(store.TextSearcher).SearchText(ctx, inbox.ID, store.TextBody, "xylograph", store.UIDSet{{Start: 1, Stop: store.MaxUID}})
	if err != nil || !hits.OK || !hits.Sure.Contains(res.UIDs[0]) {
		t.Fatalf("SearchText through the wrapper: %+v, %v", hits, err)
	}
	var keyed int
	if err := a.(store.KeysReader).MessageKeys(ctx, inbox.ID, store.UIDSetOf(res.UIDs...), func(k *store.MessageKeys) error {
		if k.Keys != nil {
			keyed++
		}
		return nil
	}); err != nil || keyed != 1 {
		t.Fatalf("MessageKeys through the wrapper: %d with keys, %v", keyed, err)
	}
	if prev, err := a.(store.RecentStore).ClaimRecent(ctx, inbox.ID, res.UIDs[0]+1); err != nil || prev > res.UIDs[0] {
		t.Fatalf("ClaimRecent = %d, %v: the new message was not recent", prev, err)
	}
	before := changes
	if _, err := a.(store.Replacer).Replace(ctx, inbox.ID, res.UIDs[0], inbox.ID, store.NewMessage{Body: strings.NewReader(body + "edited\r\n")}); err != nil {
		t.Fatal(err)
	}
	if changes != before+1 {
		t.Fatalf("REPLACE announced %d changes, want 1", changes-before)
	}
}
