package storetest

import (
	"slices"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func defaultSet() []store.DefaultMailbox {
	return []store.DefaultMailbox{
		{Name: "Drafts", SpecialUse: `\Drafts`},
		{Name: "Sent", SpecialUse: `\Sent`},
		{Name: "Trash", SpecialUse: `\Trash`},
		{Name: "Junk", SpecialUse: `\Junk`},
		{Name: "Archive", SpecialUse: `\Archive`},
	}
}

// testDefaults: store.DefaultCreator gives the defaults once in an
// account's life, subscribed, with their attributes; never again after a
// delete; exactly once when many first logins race; and it leaves alone
// names and special-uses the user already has.
func testDefaults(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	dc, ok := a.(store.DefaultCreator)
	if !ok {
		t.Skip("backend has no store.DefaultCreator")
	}
	created, err := dc.CreateDefaults(ctx, defaultSet())
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 5 {
		t.Fatalf("created %+v", created)
	}
	for _, d := range defaultSet() {
		m := MustMailbox(t, a, d.Name)
		if m.SpecialUse != d.SpecialUse {
			t.Errorf("%s: special-use %q", d.Name, m.SpecialUse)
		}
	}
	subs, err := a.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(subs, []string{"Archive", "Drafts", "Junk", "Sent", "Trash"}) {
		t.Errorf("subscriptions %q", subs)
	}
	if err := a.DeleteMailbox(ctx, "Junk"); err != nil {
		t.Fatal(err)
	}
	again, err := dc.CreateDefaults(ctx, defaultSet())
	if err != nil || len(again) != 0 {
		t.Fatalf("second call created %+v, %v", again, err)
	}
	if _, err := a.Mailbox(ctx, "Junk"); err == nil {
		t.Fatal("a deleted default was created again")
	}
	// A second handle (another process, where the backend has one) sees
	// the mark too.
	if be.Reopen != nil {
		other := be.Reopen(t, s)
		oa, err := other.Open(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer oa.Close()
		if c, err := oa.(store.DefaultCreator).CreateDefaults(ctx, defaultSet()); err != nil || len(c) != 0 {
			t.Fatalf("other handle created %+v, %v", c, err)
		}
	}
	AssertClean(t, s, "alice")

	// Many first logins at once: every default exactly once.
	bob := mustUser(t, s, "bob")
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.Open(ctx, "bob")
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Close()
			c, err := h.(store.DefaultCreator).CreateDefaults(ctx, defaultSet())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			total += len(c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 5 {
		t.Fatalf("racing first logins created %d mailboxes, want 5", total)
	}
	if got := names(t, bob); !slices.Equal(got, []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}) {
		t.Fatalf("bob's mailboxes %q", got)
	}

	// What the user already has is kept: a name taken, a special-use
	// given to another mailbox.
	carol := mustUser(t, s, "carol")
	if _, err := carol.CreateMailbox(ctx, "Sent", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.CreateMailbox(ctx, "Old/Bin", store.CreateOptions{SpecialUse: `\Trash`}); err != nil {
		t.Fatal(err)
	}
	c, err := carol.(store.DefaultCreator).CreateDefaults(ctx, defaultSet())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range c {
		got = append(got, m.Name)
	}
	if !slices.Equal(got, []string{"Drafts", "Junk", "Archive"}) {
		t.Fatalf("created %q beside the user's own", got)
	}
	if m := MustMailbox(t, carol, "Sent"); m.SpecialUse != "" {
		t.Errorf("the user's Sent got %q", m.SpecialUse)
	}
	AssertClean(t, s, "carol")
}
