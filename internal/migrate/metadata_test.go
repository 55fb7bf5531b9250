package migrate

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// setSourceMetadata sets entries on the source (a nil value removes one).
func setSourceMetadata(t *testing.T, c *imapclient.Client, mailbox string, kv map[string]*string) {
	t.Helper()
	entries := map[string]*[]byte{}
	for k, v := range kv {
		if v == nil {
			entries[k] = nil
			continue
		}
		b := []byte(*v)
		entries[k] = &b
	}
	if err := c.SetMetadata(mailbox, entries).Wait(); err != nil {
		t.Fatalf("SETMETADATA %s: %v", mailbox, err)
	}
}

func strp(s string) *string { return &s }

// targetMetadata returns every entry of a target mailbox ("" for the
// server) as name → value.
func targetMetadata(t *testing.T, st store.Store, a store.Account, mailbox string) map[string]string {
	t.Helper()
	md, err := st.(store.MetadataStore).OpenMetadata(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	id := store.ServerMetadata
	if mailbox != "" {
		mb, err := a.Mailbox(context.Background(), mailbox)
		if err != nil {
			t.Fatal(err)
		}
		id = mb.ID
	}
	es, err := md.GetMetadata(context.Background(), id, []string{"/private", "/shared"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		out[e.Name] = string(e.Value)
	}
	return out
}

func sameEntries(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// TestMigrateMetadataDovecot copies METADATA entries (RFC 5464) from a
// real Dovecot with imap_metadata on: server and mailbox entries, private
// and shared, a multi-line value; a second run changes nothing; a third
// follows changes and removals at the source and keeps an entry the
// target's user set, and the target's HIGHESTMODSEQ moves only when an
// entry really changed.
func TestMigrateMetadataDovecot(t *testing.T) {
	d := startDovecot(t, "meta")
	const user = "testuser1"
	d.resetUser(t, user)
	c := d.client(t, user)
	if !c.Caps().Has("METADATA") {
		t.Fatalf("the reference Dovecot does not offer METADATA: %v", c.Caps())
	}
	if err := c.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendAll(t, c, "Work", makeMessages("Work", 0, 3))
	// Dovecot lists no server entries by depth; the registered name is
	// asked for by name (and Dovecot keeps /shared server entries read-only).
	setSourceMetadata(t, c, "", map[string]*string{"/private/comment": strp("server note")})
	setSourceMetadata(t, c, "INBOX", map[string]*string{"/private/comment": strp("my inbox"), "/shared/comment": strp("line one\r\nline two")})
	setSourceMetadata(t, c, "Work", map[string]*string{"/private/color": strp("#00ff00")})

	st, a := newTarget(t)
	stats := migrateOnce(t, st, d.source(user))
	if stats.MetadataEntries != 4 {
		t.Errorf("%d entries copied, want 4", stats.MetadataEntries)
	}
	check := func(when string) {
		t.Helper()
		for mailbox, want := range map[string]map[string]string{
			"":      {"/private/comment": "server note"},
			"INBOX": {"/private/comment": "my inbox", "/shared/comment": "line one\r\nline two"},
			"Work":  {"/private/color": "#00ff00"},
		} {
			if got := targetMetadata(t, st, a, mailbox); !sameEntries(got, want) {
				t.Errorf("%s: entries of %q: %q, want %q", when, mailbox, got, want)
			}
		}
	}
	check("first run")

	work, _ := a.Mailbox(context.Background(), "Work")
	migrateOnce(t, st, d.source(user))
	check("second run")
	if again, _ := a.Mailbox(context.Background(), "Work"); again.HighestModSeq != work.HighestModSeq {
		t.Errorf("a run with nothing changed moved HIGHESTMODSEQ %d → %d", work.HighestModSeq, again.HighestModSeq)
	}

	// Changes at the source, and an entry the target's own user set.
	setSourceMetadata(t, c, "Work", map[string]*string{"/private/color": strp("#0000ff"), "/shared/comment": strp("team")})
	setSourceMetadata(t, c, "INBOX", map[string]*string{"/private/comment": nil})
	setSourceMetadata(t, c, "", map[string]*string{"/private/comment": nil})
	md, _ := st.OpenMetadata(context.Background(), "alice")
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := md.SetMetadata(context.Background(), inbox.ID, []store.MetadataEntry{{Name: "/private/local", Value: []byte("mine")}}, store.MetadataLimits{}); err != nil {
		t.Fatal(err)
	}
	md.Close()
	migrateOnce(t, st, d.source(user))
	if got, want := targetMetadata(t, st, a, "Work"), map[string]string{"/private/color": "#0000ff", "/shared/comment": "team"}; !sameEntries(got, want) {
		t.Errorf("third run: Work %q, want %q", got, want)
	}
	if got, want := targetMetadata(t, st, a, "INBOX"), map[string]string{"/shared/comment": "line one\r\nline two", "/private/local": "mine"}; !sameEntries(got, want) {
		t.Errorf("third run: INBOX %q, want %q", got, want)
	}
	if got := targetMetadata(t, st, a, ""); len(got) != 0 {
		t.Errorf("third run: server entries %q, want none", got)
	}
	if again, _ := a.Mailbox(context.Background(), "Work"); again.HighestModSeq <= work.HighestModSeq {
		t.Errorf("a change of entries left HIGHESTMODSEQ at %d", again.HighestModSeq)
	}
}

// TestMigrateMetadataTidemark: from a Tidemark source, which lists server
// entries by depth too, a server entry of any name is copied, and one
// removed at the source goes from the copy at the next run.
func TestMigrateMetadataTidemark(t *testing.T) {
	ctx := context.Background()
	src := startTidemarkSource(t)
	md, err := src.st.(store.MetadataStore).OpenMetadata(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	inbox, _ := src.acct.Mailbox(ctx, "INBOX")
	set := func(id store.MailboxID, name string, value []byte) {
		t.Helper()
		if _, err := md.SetMetadata(ctx, id, []store.MetadataEntry{{Name: name, Value: value}}, store.MetadataLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	set(store.ServerMetadata, "/private/vendor/tidemark-test/theme", []byte("dark"))
	set(inbox.ID, "/shared/vendor/tidemark-test/binary", []byte("a\x00b"))
	st, a := newTarget(t)
	source := &Source{TLS: true, User: "bob", Host: "127.0.0.1", Port: src.tlsPort}
	run := func() Stats {
		t.Helper()
		stats, err := Run(ctx, st, "alice", source, Options{Password: "bob-pass", Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		return stats
	}
	if stats := run(); stats.MetadataEntries != 2 {
		t.Errorf("%d entries copied, want 2", stats.MetadataEntries)
	}
	if got := targetMetadata(t, st, a, ""); !sameEntries(got, map[string]string{"/private/vendor/tidemark-test/theme": "dark"}) {
		t.Errorf("server entries %q", got)
	}
	if got := targetMetadata(t, st, a, "INBOX"); !sameEntries(got, map[string]string{"/shared/vendor/tidemark-test/binary": "a\x00b"}) {
		t.Errorf("INBOX entries %q", got)
	}
	set(store.ServerMetadata, "/private/vendor/tidemark-test/theme", nil)
	run()
	if got := targetMetadata(t, st, a, ""); len(got) != 0 {
		t.Errorf("server entries after the source removed them: %q", got)
	}
}
