package replica

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// setMetadata sets (value "-": deletes) an entry of a mailbox ("" for the
// server) as SETMETADATA would.
func (n *node) setMetadata(user, mailbox, name, value string) store.ModSeq {
	n.t.Helper()
	n.acct(user)
	md, err := n.store.OpenMetadata(ctx, user)
	if err != nil {
		n.t.Fatal(err)
	}
	defer md.Close()
	id := store.ServerMetadata
	if mailbox != "" {
		id = n.mailbox(user, mailbox).ID
	}
	e := store.MetadataEntry{Name: name}
	if value != "-" {
		e.Value = []byte(value)
	}
	ms, err := md.SetMetadata(ctx, id, []store.MetadataEntry{e}, store.MetadataLimits{})
	if err != nil {
		n.t.Fatal(err)
	}
	return ms
}

// metadata describes the entries of a mailbox ("" for the server) with a
// value, as name=value, and with modseqs when asked.
func (n *node) metadata(user, mailbox string, withModSeqs bool) string {
	n.t.Helper()
	md, err := n.store.OpenMetadata(ctx, user)
	if err != nil {
		n.t.Fatal(err)
	}
	defer md.Close()
	id := store.ServerMetadata
	if mailbox != "" {
		id = n.mailbox(user, mailbox).ID
	}
	es, err := md.GetMetadata(ctx, id, []string{"/private", "/shared"}, -1)
	if err != nil {
		n.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		s := fmt.Sprintf("%s=%s", e.Name, e.Value)
		if withModSeqs {
			s += fmt.Sprintf("@%d", e.ModSeq)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func wantMetadata(t *testing.T, user, mailbox, want string, withModSeqs bool, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if got := n.metadata(user, mailbox, withModSeqs); got != want {
			t.Errorf("%s: %q metadata %q, want %q", n.name, mailbox, got, want)
		}
	}
}

// TestMetadataReplicates: mailbox and server entries set, changed and
// deleted on one side reach the other; with one writing side, mailbox
// entries keep their modseqs and a SETMETADATA brings the other replica
// to the same HIGHESTMODSEQ at once.
func TestMetadataReplicates(t *testing.T) {
	a, b := primed(t)
	a.setMetadata("alice", "INBOX", "/private/comment", "mine")
	a.setMetadata("alice", "INBOX", "/shared/comment", "ours")
	a.setMetadata("alice", "", "/private/vendor/tidemark/theme", "dark")
	st := syncNodes(t, a, b)
	if st.Metadata != 3 {
		t.Fatalf("sync: %+v", st)
	}
	assertSame(t, "alice", true, a, b)
	wantMetadata(t, "alice", "INBOX", a.metadata("alice", "INBOX", true), true, b)
	wantMetadata(t, "alice", "", "/private/vendor/tidemark/theme=dark", false, a, b)

	// A SETMETADATA alone: B follows to A's HIGHESTMODSEQ.
	ms := a.setMetadata("alice", "INBOX", "/private/comment", "changed")
	syncNodes(t, b, a)
	if hms := b.mailbox("alice", "INBOX").HighestModSeq; hms != ms {
		t.Fatalf("B's HIGHESTMODSEQ %d, A's change at %d", hms, ms)
	}
	assertSame(t, "alice", true, a, b)

	// Deletes travel.
	a.setMetadata("alice", "INBOX", "/shared/comment", "-")
	a.setMetadata("alice", "", "/private/vendor/tidemark/theme", "-")
	syncNodes(t, a, b)
	assertSame(t, "alice", true, a, b)
	wantMetadata(t, "alice", "INBOX", "/private/comment=changed", false, a, b)
	wantMetadata(t, "alice", "", "", false, a, b)
	if st := syncNodes(t, b, a); st.Mailboxes+st.Metadata != 0 {
		t.Fatalf("another sync moved something: %+v", st)
	}
}

// TestMetadataConflict: an entry changed on both sides goes to the later
// change (the higher modseq); at the same modseq, a value beats a delete,
// then the larger value. Entries changed on one side only are not
// touched by the other's changes. Both sides decide alike whichever
// starts the sync.
func TestMetadataConflict(t *testing.T) {
	for _, swap := range []bool{false, true} {
		a, b := primed(t)
		a.setMetadata("alice", "INBOX", "/private/gone", "x")
		syncNodes(t, a, b)

		// Both sides at the same HIGHESTMODSEQ H: the n-th change on
		// each side takes H+n.
		a.setMetadata("alice", "INBOX", "/private/tie", "apple")     // H+1
		a.setMetadata("alice", "INBOX", "/private/gone", "kept")     // H+2
		a.setMetadata("alice", "INBOX", "/private/only-a", "a")      // H+3
		a.setMetadata("alice", "INBOX", "/private/over", "a")        // H+4
		b.setMetadata("alice", "INBOX", "/private/tie", "banana")    // H+1: the larger value
		b.setMetadata("alice", "INBOX", "/private/gone", "-")        // H+2: a value beats a delete
		b.setMetadata("alice", "INBOX", "/private/later", "b1")      // H+3
		b.setMetadata("alice", "INBOX", "/private/later", "b2")      // H+4
		b.setMetadata("alice", "INBOX", "/private/over", "b")        // H+5: later than A's
		a.setMetadata("alice", "", "/private/vendor/x/server", "a")  // 1
		b.setMetadata("alice", "", "/private/vendor/x/server", "b")  // 1
		b.setMetadata("alice", "", "/private/vendor/x/server", "b2") // 2
		x, y := a, b
		if swap {
			x, y = b, a
		}
		syncNodes(t, x, y)
		syncNodes(t, y, x)
		wantMetadata(t, "alice", "INBOX", "/private/gone=kept /private/later=b2 /private/only-a=a /private/over=b /private/tie=banana", false, a, b)
		wantMetadata(t, "alice", "", "/private/vendor/x/server=b2", false, a, b)
		assertSame(t, "alice", false, a, b)
		if st := syncNodes(t, a, b); st.Mailboxes+st.Metadata != 0 {
			t.Fatalf("another sync moved something: %+v", st)
		}
	}
}

// TestLaterEntry: the tie-breaks of the metadata rule.
func TestLaterEntry(t *testing.T) {
	v := func(s string, ms store.ModSeq) store.MetadataEntry {
		if s == "-" {
			return store.MetadataEntry{Name: "/private/x", ModSeq: ms}
		}
		return store.MetadataEntry{Name: "/private/x", Value: []byte(s), ModSeq: ms}
	}
	for _, c := range []struct {
		x, y store.MetadataEntry
		want bool
	}{
		{v("a", 5), v("b", 4), true},
		{v("a", 4), v("b", 5), false},
		{v("a", 5), v("b", 5), false},
		{v("b", 5), v("a", 5), true},
		{v("", 5), v("-", 5), true}, // an empty value is a value
		{v("-", 5), v("", 5), false},
		{v("a", 9), v("a", 5), false}, // the same value: nothing to do
		{v("-", 9), v("-", 5), false},
	} {
		if got := laterEntry(c.x, c.y); got != c.want {
			t.Errorf("laterEntry(%q@%d, %q@%d) = %v", c.x.Value, c.x.ModSeq, c.y.Value, c.y.ModSeq, got)
		}
	}
}
