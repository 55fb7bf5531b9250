package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func openAccessKeys(t *testing.T, s store.Store, user string) store.AccessKeys {
	t.Helper()
	ks, ok := s.(store.AccessKeyStore)
	if !ok {
		t.Skip("backend keeps no URLAUTH access keys")
	}
	k, err := ks.OpenAccessKeys(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// testAccessKeys: URLAUTH mailbox access keys are created on demand, once
// even when asked for concurrently, kept across handles, replaced by a
// reset of their mailbox alone, all removed at once, gone with their
// mailbox (a mailbox created again under the name has none), kept by a
// rename, and one user's never another's.
func testAccessKeys(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	k := openAccessKeys(t, s, "alice")
	inbox := MustMailbox(t, a, "INBOX")
	drafts, err := a.CreateMailbox(ctx, "Drafts", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(k store.AccessKeys, id store.MailboxID, create bool) []byte {
		t.Helper()
		key, err := k.AccessKey(ctx, id, create)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}

	if key := get(k, inbox.ID, false); key != nil {
		t.Fatalf("a key before any was asked for: %x", key)
	}
	var wg sync.WaitGroup
	keys := make([][]byte, 4)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, err := k.AccessKey(ctx, inbox.ID, true)
			if err != nil {
				t.Error(err)
			}
			keys[i] = key
		}()
	}
	wg.Wait()
	for _, key := range keys {
		if len(key) != store.AccessKeySize || !bytes.Equal(key, keys[0]) {
			t.Fatalf("concurrent creations gave different keys: %x", keys)
		}
	}
	k2 := openAccessKeys(t, s, "alice")
	if key := get(k2, inbox.ID, false); !bytes.Equal(key, keys[0]) {
		t.Fatalf("another handle reads %x, want %x", key, keys[0])
	}
	draftsKey := get(k, drafts.ID, true)
	if bytes.Equal(draftsKey, keys[0]) {
		t.Fatal("two mailboxes share a key")
	}

	// RESETKEY of one mailbox.
	if err := k.ResetAccessKey(ctx, inbox.ID); err != nil {
		t.Fatal(err)
	}
	reset := get(k2, inbox.ID, false)
	if len(reset) != store.AccessKeySize || bytes.Equal(reset, keys[0]) {
		t.Fatalf("key after reset %x (was %x)", reset, keys[0])
	}
	if key := get(k, drafts.ID, false); !bytes.Equal(key, draftsKey) {
		t.Fatal("resetting INBOX's key changed Drafts'")
	}

	// A rename keeps the key (it belongs to the mailbox, not the name).
	if err := a.RenameMailbox(ctx, "Drafts", "Old drafts"); err != nil {
		t.Fatal(err)
	}
	if key := get(k, drafts.ID, false); !bytes.Equal(key, draftsKey) {
		t.Fatal("a rename changed the key")
	}
	// A deleted mailbox's key goes; the name created again has none.
	if err := a.DeleteMailbox(ctx, "Old drafts"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AccessKey(ctx, drafts.ID, true); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("key of a deleted mailbox: %v", err)
	}
	if err := k.ResetAccessKey(ctx, drafts.ID); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("reset of a deleted mailbox: %v", err)
	}
	again, err := a.CreateMailbox(ctx, "Old drafts", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if key := get(k, again.ID, false); key != nil {
		t.Fatal("a mailbox created again under a deleted one's name has its key")
	}

	// Another user's keys are their own.
	mustUser(t, s, "bob")
	kb := openAccessKeys(t, s, "bob")
	bobInbox, err := mustUserMailbox(t, s, "bob", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if key := get(kb, bobInbox.ID, true); bytes.Equal(key, reset) {
		t.Fatal("bob's INBOX has alice's key")
	}

	// RESETKEY without arguments: every key of the user goes, bob's stay.
	bobKey := get(kb, bobInbox.ID, false)
	if err := k.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if key := get(k, inbox.ID, false); key != nil {
		t.Fatal("a key survived RemoveAccessKeys")
	}
	if key := get(kb, bobInbox.ID, false); !bytes.Equal(key, bobKey) {
		t.Fatal("alice's RemoveAccessKeys removed bob's key")
	}
	if key := get(k, inbox.ID, true); len(key) != store.AccessKeySize || bytes.Equal(key, reset) {
		t.Fatalf("new key after removal: %x", key)
	}
}

// mustUserMailbox looks a mailbox of user up through a handle of its own.
func mustUserMailbox(t *testing.T, s store.Store, user, name string) (store.MailboxInfo, error) {
	t.Helper()
	a, err := s.Open(ctx, user)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	defer a.Close()
	return a.Mailbox(ctx, name)
}
