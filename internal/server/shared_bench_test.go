package server

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// BenchmarkSharedMailbox measures what reaching a mailbox through the
// other users' namespace costs over reaching it as its owner: the same
// commands on joe's INBOX of 1,000 messages, once by joe and once by bob,
// to whom joe granted lrs. The difference is the rights read before each
// command (and, for LIST, the Grants query and the owner's mailbox list).
//
//	go test -run '^$' -bench SharedMailbox -benchtime 2000x ./internal/server
func BenchmarkSharedMailbox(b *testing.B) {
	bs := newBenchServer(b)
	bs.fill(b, 1000, func(i int) string { return "Subject: m\r\n\r\nbody\r\n" })
	ctx := context.Background()
	if err := bs.srv.cfg.Auth.(*auth.Accounts).Add("bob", testPass); err != nil {
		b.Fatal(err)
	}
	if err := bs.srv.cfg.Store.CreateUser(ctx, "bob"); err != nil {
		b.Fatal(err)
	}
	h, err := bs.srv.cfg.Store.(store.ACLStore).OpenACL(ctx, testUser)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := h.SetACL(ctx, bs.mbox.ID, "bob", "lrs"); err != nil {
		b.Fatal(err)
	}
	dialAs := func(user string) *benchConn {
		conn, err := net.Dial("tcp", bs.addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		c := &benchConn{b: b, conn: conn, r: bufio.NewReaderSize(conn, 1<<20)}
		if l, _ := c.readLine(); !bytes.HasPrefix(l, []byte("* OK")) {
			b.Fatalf("greeting %q", l)
		}
		c.run("L LOGIN " + user + " " + testPass)
		return c
	}
	for _, who := range []struct{ user, name string }{{testUser, "INBOX"}, {"bob", `"Other Users/joe/INBOX"`}} {
		c := dialAs(who.user)
		c.run("S SELECT " + who.name)
		for _, cmd := range []struct{ label, line string }{
			{"noop", "a NOOP"},
			{"fetch-flags", "a FETCH 1:* (FLAGS)"},
			{"status", "a STATUS " + who.name + " (MESSAGES UNSEEN)"},
			{"list", `a LIST "" *`},
		} {
			b.Run(who.user+"/"+cmd.label, func(b *testing.B) {
				c.b = b
				b.ReportAllocs()
				for range b.N {
					c.run(cmd.line)
				}
			})
		}
	}
}
