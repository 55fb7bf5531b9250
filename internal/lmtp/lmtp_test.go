package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testStore makes a store with users alice (INBOX, Lists) and bob.
func testStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := st.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	if _, err := acct.CreateMailbox(ctx, "Lists", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return st
}

// startServer serves cfg on network ("tcp" or "unix") and returns the
// address to dial.
func startServer(t testing.TB, cfg Config, network string) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := New(cfg)
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "lmtp.sock")
	}
	l, err := Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

func dial(t testing.TB, network, addr string) *smtp.Client {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mailbox returns the bytes of every message in user's mailbox, by UID.
func mailboxContents(t testing.TB, st store.Store, user, mailbox string) [][]byte {
	t.Helper()
	ctx := context.Background()
	acct, err := st.Open(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	info, err := acct.Mailbox(ctx, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := acct.Snapshot(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	var uids store.UIDSet
	for _, m := range snap.Messages {
		uids.Add(m.UID)
	}
	var out [][]byte
	err = acct.Messages(ctx, info.ID, uids, func(m *store.MessageData) error {
		b, err := acct.OpenBlob(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if int64(len(data)) != m.Size {
			return fmt.Errorf("UID %d: size %d, blob has %d bytes", m.UID, m.Size, len(data))
		}
		out = append(out, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(snap.Messages) {
		t.Fatalf("%s/%s: snapshot has %d messages, Messages gave %d", user, mailbox, len(snap.Messages), len(out))
	}
	return out
}

const testMessage = "From: sender@example.net\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\n" +
	"first line\r\n.leading dot survives dot-stuffing\r\n8-bit: Grüße\r\n"

// quotaFor refuses, over quota, any user listed in full.
type quotaFor struct{ full map[string]bool }

func (q quotaFor) CheckQuota(_ context.Context, user string, _ int64) error {
	if q.full[user] {
		return fmt.Errorf("user %s: %w", user, store.ErrOverQuota)
	}
	return nil
}

func TestDeliverManyRecipients(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			st := testStore(t)
			var mu sync.Mutex
			var deliveries []Delivery
			_, addr := startServer(t, Config{
				Store:   st,
				Domains: []string{"example.org"},
				OnDelivery: func(d Delivery) {
					mu.Lock()
					deliveries = append(deliveries, d)
					mu.Unlock()
				},
			}, network)
			c := dial(t, network, addr)

			if ok, _ := c.Extension("8BITMIME"); !ok {
				t.Error("8BITMIME not advertised")
			}
			for _, ext := range []string{"PIPELINING", "ENHANCEDSTATUSCODES"} {
				if ok, _ := c.Extension(ext); !ok {
					t.Errorf("%s not advertised", ext)
				}
			}
			if err := c.Mail("sender@example.net", nil); err != nil {
				t.Fatal(err)
			}
			accepted := []string{"alice@example.org", "alice+Lists@example.org", "bob+nosuchfolder@example.org"}
			for _, r := range accepted {
				if err := c.Rcpt(r, nil); err != nil {
					t.Fatalf("RCPT %s: %v", r, err)
				}
			}
			for _, r := range []string{"nobody@example.org", "alice@elsewhere.example"} {
				var se *smtp.SMTPError
				err := c.Rcpt(r, nil)
				if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
					t.Errorf("RCPT %s: %v, want 550 5.1.1", r, err)
				}
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, testMessage); err != nil {
				t.Fatal(err)
			}
			resp, err := w.CloseWithLMTPResponse()
			if err != nil {
				t.Fatalf("DATA: %v", err)
			}
			if len(resp) != len(accepted) {
				t.Fatalf("got %d replies, want %d: %v", len(resp), len(accepted), resp)
			}

			want := []byte("Return-Path: <sender@example.net>\r\n" + testMessage)
			for _, c := range []struct {
				user, mailbox string
			}{{"alice", "INBOX"}, {"alice", "Lists"}, {"bob", "INBOX"}} {
				got := mailboxContents(t, st, c.user, c.mailbox)
				if len(got) != 1 || !bytes.Equal(got[0], want) {
					t.Errorf("%s/%s: %q, want one message %q", c.user, c.mailbox, got, want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(deliveries) != 3 {
				t.Fatalf("OnDelivery called %d times", len(deliveries))
			}
			for _, d := range deliveries {
				if d.Err != nil || d.UID != 1 || d.Size != int64(len(want)) {
					t.Errorf("delivery %+v", d)
				}
			}
		})
	}
}

// TestPerRecipientFailureAfterData checks that a recipient refused at
// delivery time gets its own failure reply while the others are delivered.
func TestPerRecipientFailureAfterData(t *testing.T) {
	for _, tempFail := range []bool{false, true} {
		st := testStore(t)
		_, addr := startServer(t, Config{Store: st, Quota: quotaFor{map[string]bool{"bob": true}}, OverQuotaTempFail: tempFail}, "tcp")
		c := dial(t, "tcp", addr)
		if err := c.SendMail("s@example.net", []string{"alice@example.org", "bob@example.org", "alice+Lists@example.org"}, strings.NewReader(testMessage)); err == nil {
			t.Fatal("SendMail succeeded; bob is over quota")
		} else {
			var lerr smtp.LMTPDataError
			if !errors.As(err, &lerr) || len(lerr) != 1 || lerr["bob@example.org"] == nil {
				t.Fatalf("error %v, want one failure for bob", err)
			}
			want := smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}}
			if tempFail {
				want = smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}}
			}
			if got := lerr["bob@example.org"]; got.Code != want.Code || got.EnhancedCode != want.EnhancedCode {
				t.Errorf("bob: %d %v, want %d %v", got.Code, got.EnhancedCode, want.Code, want.EnhancedCode)
			}
		}
		if n := len(mailboxContents(t, st, "alice", "INBOX")); n != 1 {
			t.Errorf("alice INBOX has %d messages", n)
		}
		if n := len(mailboxContents(t, st, "alice", "Lists")); n != 1 {
			t.Errorf("alice Lists has %d messages", n)
		}
		if n := len(mailboxContents(t, st, "bob", "INBOX")); n != 0 {
			t.Errorf("bob INBOX has %d messages", n)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	st := testStore(t)
	_, addr := startServer(t, Config{Store: st, MaxMessageSize: 4096}, "tcp")
	c := dial(t, "tcp", addr)
	if n, ok := c.MaxMessageSize(); !ok || n != 4096 {
		t.Errorf("SIZE %d %v, want 4096", n, ok)
	}

	// Declared too big: refused at MAIL FROM (RFC 1870).
	var se *smtp.SMTPError
	if err := c.Mail("s@example.net", &smtp.MailOptions{Size: 5000}); !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("MAIL SIZE=5000: %v, want 552", err)
	}
	c.Reset()

	// Not declared, but too big: every recipient gets 552 5.3.4.
	big := testMessage + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 80)
	err := c.SendMail("s@example.net", []string{"alice@example.org", "bob@example.org"}, strings.NewReader(big))
	var lerr smtp.LMTPDataError
	if !errors.As(err, &lerr) || len(lerr) != 2 {
		t.Fatalf("oversized message: %v", err)
	}
	for rcpt, e := range lerr {
		if e.Code != 552 || e.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
			t.Errorf("%s: %d %v, want 552 5.3.4", rcpt, e.Code, e.EnhancedCode)
		}
	}
	if n := len(mailboxContents(t, st, "alice", "INBOX")); n != 0 {
		t.Errorf("oversized message stored: %d", n)
	}

	// The connection is still usable, and a message under the limit goes in.
	if err := c.SendMail("s@example.net", []string{"alice@example.org"}, strings.NewReader(testMessage)); err != nil {
		t.Fatalf("small message after a refused one: %v", err)
	}
	if n := len(mailboxContents(t, st, "alice", "INBOX")); n != 1 {
		t.Errorf("alice INBOX has %d messages, want 1", n)
	}
}

// TestLargeMessageStreams delivers a message bigger than any buffer on the
// way, to two recipients, and checks both copies byte for byte.
func TestLargeMessageStreams(t *testing.T) {
	st := testStore(t)
	_, addr := startServer(t, Config{Store: st}, "unix")
	c := dial(t, "unix", addr)
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; b.Len() < 8<<20; i++ {
		fmt.Fprintf(&b, "line %d %s\r\n", i, strings.Repeat("abcdefgh", 9))
	}
	if err := c.SendMail("", []string{"alice@example.org", "bob@example.org"}, strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <>\r\n" + b.String()
	for _, u := range []string{"alice", "bob"} {
		got := mailboxContents(t, st, u, "INBOX")
		if len(got) != 1 || string(got[0]) != want {
			t.Errorf("%s: %d messages, first %d bytes, want %d", u, len(got), len(got[0]), len(want))
		}
	}
}

func TestListenUnixReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l1, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix", path); err == nil {
		t.Fatal("second listener on a live socket succeeded")
	}
	// Simulate a crash: the socket file stays, nobody listens.
	l1.(*net.UnixListener).SetUnlinkOnClose(false)
	l1.Close()
	l2, err := Listen("unix", path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
}

func TestDuplicateRecipientGetsOneCopy(t *testing.T) {
	st := testStore(t)
	_, addr := startServer(t, Config{Store: st, DeliveryTimeout: 10 * time.Second}, "tcp")
	c := dial(t, "tcp", addr)
	if err := c.SendMail("s@example.net", []string{"alice@example.org", "Alice@example.org", "alice+nosuch@example.org"}, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	if n := len(mailboxContents(t, st, "alice", "INBOX")); n != 1 {
		t.Errorf("alice INBOX has %d messages, want 1", n)
	}
}

// TestRecipientNames: a bare user name without a domain is that local user
// (some MTAs send it so); names fold ASCII case only, so the KELVIN SIGN
// in "\u212Aate" does not reach "kate".
func TestRecipientNames(t *testing.T) {
	st := testStore(t)
	if err := st.CreateUser(context.Background(), "kate"); err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, Config{Store: st, Domains: []string{"example.org"}}, "tcp")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(2 * time.Minute)) // only a hang
	reply := func(line string) string {
		t.Helper()
		if line != "" {
			fmt.Fprintf(conn, "%s\r\n", line)
		}
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", line, err)
			}
			if len(l) < 4 || l[3] != '-' {
				last = l
				break
			}
		}
		return strings.TrimSpace(last)
	}
	reply("")
	reply("LHLO mta.test")
	reply("MAIL FROM:<s@example.net>")
	for _, c := range []struct{ rcpt, code string }{
		{"<alice>", "250"},
		{"<KATE@example.org>", "250"},
		{"<\u212Aate@example.org>", "550"},
		{"<\u212Aate>", "550"},
	} {
		if got := reply("RCPT TO:" + c.rcpt); !strings.HasPrefix(got, c.code) {
			t.Errorf("RCPT TO:%s: %q, want %s", c.rcpt, got, c.code)
		}
	}
	reply("DATA")
	fmt.Fprintf(conn, "Subject: hi\r\n\r\nhello\r\n.\r\n")
	for range 2 {
		if got := reply(""); !strings.HasPrefix(got, "250") {
			t.Errorf("DATA: %q", got)
		}
	}
	if n := len(mailboxContents(t, st, "alice", "INBOX")); n != 1 {
		t.Errorf("alice has %d messages", n)
	}
	if n := len(mailboxContents(t, st, "kate", "INBOX")); n != 1 {
		t.Errorf("kate has %d messages", n)
	}
}

// TestSubaddressSpecialUse: "alice+Sent" and "alice+Drafts" land in INBOX,
// not in the special-use mailboxes, unless the operator allows it.
func TestSubaddressSpecialUse(t *testing.T) {
	for _, allow := range []bool{false, true} {
		st := testStore(t)
		acct, err := st.Open(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range []struct{ name, use string }{{"Sent", `\Sent`}, {"Drafts", `\Drafts`}} {
			if _, err := acct.CreateMailbox(context.Background(), mb.name, store.CreateOptions{SpecialUse: store.SpecialUse(mb.use)}); err != nil {
				t.Fatal(err)
			}
		}
		acct.Close()
		_, addr := startServer(t, Config{Store: st, Domains: []string{"example.org"}, SubaddressSpecialUse: allow}, "tcp")
		c := dial(t, "tcp", addr)
		if err := c.SendMail("s@example.net", []string{"alice+Sent@example.org", "alice+Drafts@example.org", "alice+Lists@example.org"}, strings.NewReader(testMessage)); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"INBOX": 1, "Sent": 0, "Drafts": 0, "Lists": 1} // one copy per mailbox
		if allow {
			want = map[string]int{"INBOX": 0, "Sent": 1, "Drafts": 1, "Lists": 1}
		}
		for mb, n := range want {
			if got := len(mailboxContents(t, st, "alice", mb)); got != n {
				t.Errorf("allow=%v: %s has %d messages, want %d", allow, mb, got, n)
			}
		}
	}
}

// TestDeliverToManyUsers: one transaction to twelve users, one of them
// named twice and one over quota, appended concurrently: every recipient
// gets its own reply in RCPT order, each accepted user exactly one copy,
// the refused one none.
func TestDeliverToManyUsers(t *testing.T) {
	st := testStore(t)
	ctx := context.Background()
	var users []string
	for i := range 10 {
		u := fmt.Sprintf("user%d", i)
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	var mu sync.Mutex
	var order []string
	_, addr := startServer(t, Config{
		Store: st,
		Quota: quotaFor{map[string]bool{"user4": true}},
		OnDelivery: func(d Delivery) {
			mu.Lock()
			order = append(order, d.Recipient)
			mu.Unlock()
		},
	}, "tcp")
	c := dial(t, "tcp", addr)
	var rcpts []string
	for _, u := range users {
		rcpts = append(rcpts, u+"@example.org")
	}
	rcpts = append(rcpts, "alice@example.org", "user2@example.org")
	err := c.SendMail("s@example.net", rcpts, strings.NewReader(testMessage))
	var lerr smtp.LMTPDataError
	if !errors.As(err, &lerr) || len(lerr) != 1 || lerr["user4@example.org"] == nil || lerr["user4@example.org"].Code != 552 {
		t.Fatalf("SendMail: %v; want one 552 for user4", err)
	}
	for _, u := range append(users, "alice") {
		want := 1
		if u == "user4" {
			want = 0
		}
		if n := len(mailboxContents(t, st, u, "INBOX")); n != want {
			t.Errorf("%s: %d messages in INBOX, want %d", u, n, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, rcpts) {
		t.Errorf("outcomes reported for %v; want RCPT order %v", order, rcpts)
	}
}
