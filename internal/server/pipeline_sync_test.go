package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestPipelinedWritesShareSync sends 20 UID STOREs in one write: each is
// answered, in order, and all of them cost fewer WAL syncs than commands
// (the answers wait in the buffer while more commands are there, and one
// sync covers every change before they leave). Another process's store
// then finds every change.
func TestPipelinedWritesShareSync(t *testing.T) {
	embeddedOnly(t, "counts the embedded store's WAL syncs")
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 20, store.Flags{})
	c := env.selectInbox()
	st := env.store.(*sqlitestore.Store)

	const n = 20
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "p%d UID STORE %d +FLAGS.SILENT (\\Seen)\r\n", i, i)
	}
	before := st.WALSyncs()
	if _, err := c.conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		c.expect(fmt.Sprintf(`^p%d OK UID STORE completed$`, i))
	}
	syncs := st.WALSyncs() - before
	if syncs == 0 || syncs >= n {
		t.Fatalf("%d WAL syncs for %d pipelined STOREs: want at least one and fewer than one each", syncs, n)
	}
	t.Logf("%d pipelined STOREs, %d WAL syncs", n, syncs)

	other, err := env.reopen().Open(t.Context(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mb, err := other.Mailbox(t.Context(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := other.Snapshot(t.Context(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range snap.Messages {
		if m.Flags.System&store.FlagSeen == 0 {
			t.Fatalf("UID %d lost its \\Seen", m.UID)
		}
	}
}

// TestPipelinedWritesImapclient has go-imap's client issue STOREs and
// APPENDs without waiting for each answer, then checks every one
// succeeded and that the mailbox holds what they did.
func TestPipelinedWritesImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 10, store.Flags{})
	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var stores []*imapclient.FetchCommand
	for uid := imap.UID(1); uid <= 10; uid++ {
		stores = append(stores, cl.Store(imap.UIDSetNum(uid), &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
	}
	var appends []*imapclient.AppendCommand
	for i := range 5 {
		msg := fmt.Sprintf("Subject: pipelined %d\r\n\r\nbody\r\n", i)
		a := cl.Append("INBOX", int64(len(msg)), nil)
		a.Write([]byte(msg))
		a.Close()
		appends = append(appends, a)
	}
	for i, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatalf("STORE %d: %v", i+1, err)
		}
	}
	for i, a := range appends {
		if _, err := a.Wait(); err != nil {
			t.Fatalf("APPEND %d: %v", i, err)
		}
	}
	mb, err := env.account().Mailbox(t.Context(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if mb.UIDNext != 16 {
		t.Fatalf("UIDNEXT %d after 5 pipelined APPENDs to 10, want 16", mb.UIDNext)
	}
	for uid := store.UID(1); uid <= 10; uid++ {
		if env.inboxState(uid).Flags.System&store.FlagFlagged == 0 {
			t.Fatalf("UID %d not \\Flagged", uid)
		}
	}
}
