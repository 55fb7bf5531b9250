package migrate

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/server"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/tlscert"
)

// tidemarkSource is a Tidemark server with a self-signed certificate, as
// a source: STARTTLS on one port, implicit TLS on another.
type tidemarkSource struct {
	st                 store.Store
	acct               store.Account
	plainPort, tlsPort int
}

func startTidemarkSource(t *testing.T) *tidemarkSource {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	accts, err := auth.OpenAccountsWith(dir, auth.Options{
		Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := accts.Add("bob", "bob-pass"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	tlsConf, err := tlscert.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Store: st, Auth: accts, TLS: tlsConf, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(plain)
	go srv.ServeTLS(implicit)
	a, err := st.Open(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		srv.Shutdown(ctx)
		a.Close()
		accts.Close()
		st.Close()
	})
	return &tidemarkSource{st: st, acct: a, plainPort: plain.Addr().(*net.TCPAddr).Port, tlsPort: implicit.Addr().(*net.TCPAddr).Port}
}

// sameStores compares two stores' mailboxes and messages: names,
// UIDVALIDITY, UIDNEXT, UIDs, flags, content, INTERNALDATE, SAVEDATE,
// EMAILID and THREADID (Tidemark offers OBJECTID and SAVEDATE, which a
// migration keeps).
func sameStores(t *testing.T, src, dst store.Account) {
	t.Helper()
	ctx := context.Background()
	read := func(a store.Account) map[string][]string {
		mbs, err := a.Mailboxes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[string][]string)
		for _, mb := range mbs {
			lines := []string{strings.Join([]string{itoa(uint64(mb.UIDValidity)), itoa(uint64(mb.UIDNext))}, " ")}
			err := a.Messages(ctx, mb.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
				lines = append(lines, strings.Join([]string{itoa(uint64(m.UID)), flagString(m.Flags.System, m.Flags.Keywords),
					m.BlobID, m.InternalDate.UTC().Format(time.RFC3339), m.SaveDate.UTC().Format(time.RFC3339), m.EmailID, m.ThreadID}, " "))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			out[mb.Name] = lines
		}
		return out
	}
	s, d := read(src), read(dst)
	for name, lines := range s {
		if !slices.Equal(lines, d[name]) {
			t.Fatalf("mailbox %s:\nsource %q\ntarget %q", name, lines, d[name])
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// Tidemark as the source, over TLS: implicit TLS and STARTTLS verify the
// certificate (a self-signed one is refused without --insecure), and with
// Insecure the copy and an incremental run through QRESYNC work against a
// second implementation of the protocol.
func TestTidemarkSourceOverTLS(t *testing.T) {
	ctx := context.Background()
	src := startTidemarkSource(t)
	inbox, _ := src.acct.Mailbox(ctx, "INBOX")
	var msgs []store.NewMessage
	for i, m := range makeMessages("INBOX", 0, 12) {
		f := store.Flags{Keywords: []string{"Tag" + strconv.Itoa(i%3)}}
		if i%2 == 0 {
			f.System = store.FlagSeen
		}
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(m.body), Flags: f, InternalDate: m.date})
	}
	if _, err := src.acct.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := src.acct.CreateMailbox(ctx, "Sent", store.CreateOptions{SpecialUse: `\Sent`}); err != nil {
		t.Fatal(err)
	}
	st, a := newTarget(t)

	for _, s := range []*Source{
		{TLS: true, User: "bob", Host: "127.0.0.1", Port: src.tlsPort},
		{User: "bob", Host: "127.0.0.1", Port: src.plainPort},
	} {
		_, err := Run(ctx, st, "alice", s, Options{Password: "bob-pass"})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("%s with a self-signed certificate: %v", s, err)
		}
	}
	tlsSrc := &Source{TLS: true, User: "bob", Host: "127.0.0.1", Port: src.tlsPort}
	stats, err := Run(ctx, st, "alice", tlsSrc, Options{Password: "bob-pass", Insecure: true})
	if err != nil || stats.Messages != 12 || !stats.Qresync {
		t.Fatalf("imaps: %+v, %v", stats, err)
	}
	sameStores(t, src.acct, a)
	if sent, err := a.Mailbox(ctx, "Sent"); err != nil || sent.SpecialUse != `\Sent` {
		t.Fatalf("Sent: %+v, %v", sent, err)
	}

	if _, err := src.acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := src.acct.Expunge(ctx, inbox.ID, store.UIDSetOf(3)); err != nil {
		t.Fatal(err)
	}
	stats, err = Run(ctx, st, "alice", tlsSrc, Options{Password: "bob-pass", Insecure: true})
	if err != nil || stats.Messages != 0 || stats.FlagChanges != 2 || stats.Expunged != 1 {
		t.Fatalf("incremental from Tidemark: %+v, %v", stats, err)
	}
	sameStores(t, src.acct, a)

	// STARTTLS, with the same state: the peer is another URL, so this is
	// a copy of its own, into mailboxes that hold mail: matched by content.
	stats, err = Run(ctx, st, "alice", &Source{User: "bob", Host: "127.0.0.1", Port: src.plainPort}, Options{Password: "bob-pass", Insecure: true})
	if err != nil || stats.Messages != 0 || stats.Matched != 11 {
		t.Fatalf("STARTTLS: %+v, %v", stats, err)
	}
	sameStores(t, src.acct, a)
}

// Mail delivered to the target mailbox while it is being copied takes a
// UID the copy wanted: the copy stops keeping source UIDs there, loses and
// duplicates nothing, and later changes still reach the right messages.
func TestDeliveryDuringMigration(t *testing.T) {
	ctx := context.Background()
	src := startTidemarkSource(t)
	inbox, _ := src.acct.Mailbox(ctx, "INBOX")
	var msgs []store.NewMessage
	for _, m := range makeMessages("INBOX", 0, 200) {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(m.body), InternalDate: m.date})
	}
	if _, err := src.acct.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	st, a := newTarget(t)
	target, _ := a.Mailbox(ctx, "INBOX")
	delivered := false
	from := &Source{TLS: true, User: "bob", Host: "127.0.0.1", Port: src.tlsPort}
	stats, err := Run(ctx, st, "alice", from, Options{Password: "bob-pass", Insecure: true, BatchMessages: 10,
		Progress: func(p Progress) {
			if p.Done == 50 && !delivered {
				delivered = true
				// Wait until the first batches are in, so the delivery
				// lands in the middle of the copy.
				for {
					if info, _ := a.Status(ctx, target.ID); info.Messages >= 20 {
						break
					}
					time.Sleep(time.Millisecond)
				}
				if _, err := a.Append(ctx, target.ID, []store.NewMessage{{Body: strings.NewReader("Subject: local\r\n\r\ndelivered here\r\n")}}); err != nil {
					t.Error(err)
				}
			}
		}})
	if err != nil || stats.Messages != 200 {
		t.Fatalf("migration with a delivery: %+v, %v", stats, err)
	}
	content := func() map[string]store.MessageData {
		out := make(map[string]store.MessageData)
		if err := a.Messages(ctx, target.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
			if _, dup := out[m.BlobID]; dup {
				t.Errorf("message %s stored twice", m.BlobID)
			}
			out[m.BlobID] = *m
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := content(); len(got) != 201 {
		t.Fatalf("target INBOX has %d distinct messages, want 201", len(got))
	}
	// A change to a message copied after the delivery reaches it.
	var blob150 string
	src.acct.Messages(ctx, inbox.ID, store.UIDSetOf(150), func(m *store.MessageData) error { blob150 = m.BlobID; return nil })
	if _, err := src.acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(150), store.FlagsAdd, store.Flags{Keywords: []string{"Moved"}}, 0); err != nil {
		t.Fatal(err)
	}
	if stats, err := Run(ctx, st, "alice", from, Options{Password: "bob-pass", Insecure: true}); err != nil || stats.FlagChanges != 1 {
		t.Fatalf("incremental: %+v, %v", stats, err)
	}
	if m := content()[blob150]; !m.Flags.Has("Moved") {
		t.Fatalf("the flag went elsewhere: %+v", m.MessageState)
	}
}
