package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

var ctx = context.Background()

// node is one replica in a test: a real store on disk.
type node struct {
	t     testing.TB
	name  string
	dir   string
	store *sqlitestore.Store
	side  *Local
}

func newNode(t testing.TB, name string) *node {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &node{t: t, name: name, dir: dir, store: s, side: &Local{Store: s, NodeID: name}}
}

// acct opens the user's account, creating the user if needed.
func (n *node) acct(user string) store.Account {
	n.t.Helper()
	r, err := n.store.Open(ctx, user)
	if err != nil {
		if err := n.store.CreateUser(ctx, user); err != nil {
			n.t.Fatal(err)
		}
		if r, err = n.store.Open(ctx, user); err != nil {
			n.t.Fatal(err)
		}
	}
	n.t.Cleanup(func() { r.Close() })
	return r
}

// repl opens the user's replica handle.
func (n *node) repl(user string) store.Replica {
	n.t.Helper()
	n.acct(user)
	r, err := n.store.OpenReplica(ctx, user)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { r.Close() })
	return r
}

func (n *node) mailbox(user, name string) store.MailboxInfo {
	n.t.Helper()
	m, err := n.acct(user).Mailbox(ctx, name)
	if err != nil {
		n.t.Fatalf("%s: %v", n.name, err)
	}
	return m
}

func (n *node) append(user, mailbox, body string, flags store.Flags) store.UID {
	n.t.Helper()
	a := n.acct(user)
	m, err := a.Mailbox(ctx, mailbox)
	if err != nil {
		n.t.Fatal(err)
	}
	res, err := a.Append(ctx, m.ID, []store.NewMessage{{Body: strings.NewReader(body), Flags: flags,
		InternalDate: time.Unix(1700000000, 0).UTC()}})
	if err != nil {
		n.t.Fatal(err)
	}
	return res.UIDs[0]
}

func (n *node) setFlags(user, mailbox string, uid store.UID, op store.FlagOp, f store.Flags) {
	n.t.Helper()
	a := n.acct(user)
	m := n.mailbox(user, mailbox)
	if _, err := a.SetFlags(ctx, m.ID, store.UIDSetOf(uid), op, f, 0); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) expunge(user, mailbox string, uids ...store.UID) {
	n.t.Helper()
	a := n.acct(user)
	m := n.mailbox(user, mailbox)
	if _, err := a.Expunge(ctx, m.ID, store.UIDSetOf(uids...)); err != nil {
		n.t.Fatal(err)
	}
}

func msg(i int) string {
	return fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody %d\r\n", i, i, i)
}

// dump describes a user's mail as replicas must agree on it: mailboxes
// (name, id, UIDVALIDITY, UIDNEXT, special-use), subscriptions, and every
// message (UID, flags, keywords, content, dates, EMAILID). withModSeqs adds
// modseqs and HIGHESTMODSEQ, which agree when one side wrote.
func dump(t testing.TB, n *node, user string, withModSeqs bool) string {
	t.Helper()
	a := n.acct(user)
	var b strings.Builder
	mbs, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mbs {
		fmt.Fprintf(&b, "mailbox %q %s uv=%d next=%d use=%q", m.Name, m.GUID, m.UIDValidity, m.UIDNext, m.SpecialUse)
		if withModSeqs {
			fmt.Fprintf(&b, " hms=%d", m.HighestModSeq)
		}
		b.WriteString("\n")
		err := a.Messages(ctx, m.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(d *store.MessageData) error {
			fmt.Fprintf(&b, "  %d %d %v %s %d %s %s", d.UID, d.Flags.System, d.Flags.Keywords, d.BlobID[:12],
				d.InternalDate.Unix(), d.EmailID, d.ThreadID)
			if withModSeqs {
				fmt.Fprintf(&b, " ms=%d", d.ModSeq)
			}
			b.WriteString("\n")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	subs, err := a.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "subscribed %q\n", subs)
	return b.String()
}

func syncNodes(t testing.TB, x, y *node) Stats {
	t.Helper()
	st, err := Sync(ctx, x.side, y.side, Options{})
	if err != nil {
		t.Fatalf("sync %s↔%s: %v", x.name, y.name, err)
	}
	return st
}

func assertSame(t testing.TB, user string, withModSeqs bool, nodes ...*node) {
	t.Helper()
	first := dump(t, nodes[0], user, withModSeqs)
	for _, n := range nodes[1:] {
		if d := dump(t, n, user, withModSeqs); d != first {
			t.Fatalf("%s and %s differ:\n%s\n--- vs ---\n%s", nodes[0].name, n.name, first, d)
		}
	}
}

// uidsOf lists a mailbox's messages as "uid:subject-number".
func contents(t testing.TB, n *node, user, mailbox string) []string {
	t.Helper()
	a := n.acct(user)
	m := n.mailbox(user, mailbox)
	var out []string
	a.Messages(ctx, m.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(d *store.MessageData) error {
		out = append(out, fmt.Sprintf("%d:%s", d.UID, strings.TrimPrefix(d.Structure.Search.Subject, "message ")))
		return nil
	})
	return out
}

func wantContents(t testing.TB, n *node, user, mailbox string, want ...string) {
	t.Helper()
	if got := contents(t, n, user, mailbox); !slices.Equal(got, want) {
		t.Fatalf("%s %s: %q, want %q", n.name, mailbox, got, want)
	}
}
