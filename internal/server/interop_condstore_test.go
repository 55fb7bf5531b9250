package server

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// CONDSTORE with go-imap v2's client, an independent implementation.
// Its client speaks CONDSTORE (SELECT (CONDSTORE), HIGHESTMODSEQ, FETCH
// MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ) but not
// QRESYNC (it cannot ENABLE it nor read VANISHED), so this is the
// CONDSTORE-only resync a client of that library does; QRESYNC is covered
// by the transcript tests.

type interopCache map[imap.UID]struct {
	flags  []imap.Flag
	modseq uint64
}

func sortedFlags(f []imap.Flag) []imap.Flag {
	out := slices.Clone(f)
	slices.Sort(out)
	return out
}

func dialImapclient(t *testing.T, env *testEnv, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	cl, err := imapclient.DialInsecure(env.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestInteropCondstoreResync(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 20, store.Flags{})

	// First session: full sync into the cache.
	cl := dialImapclient(t, env, nil)
	sel, err := cl.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.HighestModSeq != uint64(env.mailbox("INBOX").HighestModSeq) {
		t.Fatalf("HIGHESTMODSEQ %d", sel.HighestModSeq)
	}
	cache := interopCache{}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	msgs, err := cl.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		cache[m.UID] = struct {
			flags  []imap.Flag
			modseq uint64
		}{sortedFlags(m.Flags), m.ModSeq}
	}
	known := sel.HighestModSeq
	uidValidity := sel.UIDValidity
	cl.Logout().Wait()

	// Offline changes by another writer.
	env.flagStore(store.UIDSetOf(2, 3, 4), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	env.expunge(store.UIDSetOf(5, 6, 15))
	env.flagStore(store.UIDSetOf(7), store.FlagsReplace, store.Flags{Keywords: []string{"$Work"}})
	env.appendMessages("INBOX", 2, store.Flags{System: store.FlagFlagged})

	// Second session: CHANGEDSINCE plus UID SEARCH ALL.
	cl = dialImapclient(t, env, nil)
	sel, err = cl.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.UIDValidity != uidValidity || sel.HighestModSeq <= known {
		t.Fatalf("reselect %+v", sel)
	}
	changed, err := cl.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: known}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var changedUIDs []imap.UID
	for _, m := range changed {
		if m.ModSeq <= known {
			t.Fatalf("CHANGEDSINCE %d returned UID %d at %d", known, m.UID, m.ModSeq)
		}
		changedUIDs = append(changedUIDs, m.UID)
		cache[m.UID] = struct {
			flags  []imap.Flag
			modseq uint64
		}{sortedFlags(m.Flags), m.ModSeq}
	}
	if !slices.Equal(changedUIDs, []imap.UID{2, 3, 4, 7, 21, 22}) {
		t.Fatalf("changed UIDs %v", changedUIDs)
	}
	sd, err := cl.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	exists := sd.AllUIDs()
	for u := range cache {
		if !slices.Contains(exists, u) {
			delete(cache, u)
		}
	}
	full, err := cl.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != len(cache) {
		t.Fatalf("cache holds %d messages, server %d", len(cache), len(full))
	}
	for _, m := range full {
		c, ok := cache[m.UID]
		if !ok || c.modseq != m.ModSeq || !slices.Equal(c.flags, sortedFlags(m.Flags)) {
			t.Fatalf("UID %d: cache %+v, server %v %d", m.UID, c, m.Flags, m.ModSeq)
		}
	}

	// SEARCH MODSEQ finds the same messages as CHANGEDSINCE.
	sd, err = cl.UIDSearch(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: known + 1}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sd.AllUIDs(), changedUIDs) || sd.ModSeq != sel.HighestModSeq {
		t.Fatalf("SEARCH MODSEQ %v (MODSEQ %d)", sd.AllUIDs(), sd.ModSeq)
	}
}

// TestInteropUnchangedSince: STORE UNCHANGEDSINCE through the library, with
// a stale modseq for one message; and the unsolicited FETCH the library
// receives from another session's change carries MODSEQ.
func TestInteropUnchangedSince(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	var mu sync.Mutex
	var unsolicited []*imapclient.FetchMessageBuffer
	got := make(chan struct{}, 10)
	cl := dialImapclient(t, env, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Fetch: func(msg *imapclient.FetchMessageData) {
				buf, err := msg.Collect()
				if err == nil {
					mu.Lock()
					unsolicited = append(unsolicited, buf)
					mu.Unlock()
					got <- struct{}{}
				}
			},
		},
	})
	sel, err := cl.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	stale := sel.HighestModSeq
	r := env.flagStore(store.UIDSetOf(2), store.FlagsAdd, store.Flags{Keywords: []string{"$Other"}})

	// The library reads the conditional STORE's FETCH responses; message 2
	// fails the test and keeps its flags.
	msgs, err := cl.Store(imap.UIDSetNum(1, 2, 3), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: []imap.Flag{imap.FlagSeen}},
		&imap.StoreOptions{UnchangedSince: stale}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.UID == 2 && m.ModSeq != uint64(r.ModSeq) {
			t.Fatalf("message 2 reported at %d, its change was %d", m.ModSeq, r.ModSeq)
		}
	}
	var final store.MessageState
	env.account().Messages(context.Background(), env.mailbox("INBOX").ID, store.UIDSetOf(2), func(d *store.MessageData) error {
		final = d.MessageState
		return nil
	})
	if final.Flags.System&store.FlagSeen != 0 || !final.Flags.Has("$Other") {
		t.Fatalf("stale STORE applied: %+v", final)
	}

	// Another session's change reaches the library with MODSEQ.
	r = env.flagStore(store.UIDSetOf(3), store.FlagsAdd, store.Flags{System: store.FlagFlagged})
	if err := cl.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(hangDeadline)
	for {
		mu.Lock()
		i := slices.IndexFunc(unsolicited, func(b *imapclient.FetchMessageBuffer) bool { return b.ModSeq == uint64(r.ModSeq) })
		mu.Unlock()
		if i >= 0 {
			mu.Lock()
			b := unsolicited[i]
			mu.Unlock()
			if b.UID != 3 || !slices.Contains(b.Flags, imap.FlagFlagged) {
				t.Fatalf("unsolicited FETCH %+v", b)
			}
			break
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("no unsolicited FETCH with MODSEQ %d", r.ModSeq)
		}
	}
}
