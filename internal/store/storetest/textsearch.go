package storetest

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// searchAll runs a SEARCH program over every message of a mailbox as the
// server does: string keys from the store's text index when index is set
// (store.TextSearcher), the rest, and everything when index is not set,
// by evaluating each message.
func searchAll(t testing.TB, a store.Account, id store.MailboxID, key string, index bool) store.UIDSet {
	t.Helper()
	d := wire.NewDecoder(bufio.NewReader(strings.NewReader(key+"\r\n")), wire.Limits{})
	d.Begin()
	d.OnSyncLiteral = func(int64) error { return nil }
	prog, err := search.Parse(d, "")
	if err != nil {
		t.Fatalf("parse %q: %v", key, err)
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}}
	err = prog.ResolveText(func(f store.TextField, needle string) (store.TextHits, error) {
		if !index {
			return store.TextHits{}, nil
		}
		h, err := store.SearchText(ctx, a, id, f, needle, all)
		if err == nil && !h.OK {
			t.Fatalf("the text index did not answer %q", needle)
		}
		return h, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got store.UIDSet
	now := time.Now()
	err = a.Messages(ctx, id, all, func(md *store.MessageData) error {
		m := &search.Message{State: &md.MessageState, Data: md}
		r, err := prog.Match(m, now)
		if err == nil && r == search.Unknown {
			b, err := a.OpenBlob(ctx, md.BlobID)
			if err != nil {
				return err
			}
			defer b.Close()
			m.Body = b
			r, err = prog.Match(m, now)
		}
		if err != nil {
			return err
		}
		if r == search.Yes {
			got.Add(md.UID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testTextSearch: for a store with a text index, on random mailboxes
// (seed TIDEMARK_TEXT_SEED, logged), every random string search answered
// through the index equals the same search answered by evaluating each
// message, after appends, copies, expunges, a rebuild (store.Reindexer);
// another user's identical messages never show.
func testTextSearch(t *testing.T, b Backend) {
	s, a := b.newAccount(t)
	if _, ok := a.(store.TextSearcher); !ok {
		t.Skip("the store keeps no text index")
	}
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("TIDEMARK_TEXT_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (TIDEMARK_TEXT_SEED)", seed)
	r := rand.New(rand.NewPCG(seed, 13))
	inbox := MustMailbox(t, a, "INBOX")
	bob := mustUser(t, s, "bob")
	bobInbox := MustMailbox(t, bob, "INBOX")
	add := func(n int) {
		var msgs, copies []store.NewMessage
		for range n {
			raw := messagetest.Message(r)
			msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(raw)})
			copies = append(copies, store.NewMessage{Body: bytes.NewReader(raw)})
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			t.Fatal(err)
		}
		// bob gets the same bytes in a mailbox with the same UIDs.
		if _, err := bob.Append(ctx, bobInbox.ID, copies[:n/2]); err != nil {
			t.Fatal(err)
		}
	}
	compare := func(stage string, id store.MailboxID, n int) {
		t.Helper()
		for range n {
			key := messagetest.SearchKey(r)
			want := searchAll(t, a, id, key, false)
			if got := searchAll(t, a, id, key, true); got.String() != want.String() {
				t.Fatalf("%s: %q: index %v, scan %v", stage, key, got, want)
			}
		}
	}
	add(20)
	add(20)
	compare("after append", inbox.ID, 80)

	other, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSet{{Start: 1, Stop: 10}}); err != nil {
		t.Fatal(err)
	}
	var gone store.UIDSet
	for u := store.UID(1); u <= 40; u++ {
		if r.IntN(2) == 0 {
			gone.Add(u)
		}
	}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	add(10)
	compare("after expunge and append", inbox.ID, 60)
	compare("copies", other.ID, 20)

	if ri, ok := s.(store.Reindexer); ok {
		if err := ri.Reindex(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		compare("after reindex", inbox.ID, 40)
	}
}
