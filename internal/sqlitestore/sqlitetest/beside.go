// Package sqlitetest sets up embedded stores for the tests of tools that
// run as their own process beside a server (check --repair, export): two
// stores over one data directory, and a handle that makes the server
// expunge a message just as the tool reads it.
package sqlitetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Beside is a server's store and a tool's store over one directory, each
// with its own handle on alice, whose INBOX holds messages "Subject: i",
// "body i" for i 0 to 2 (UIDs 1 to 3).
type Beside struct {
	Server, Tool               *sqlitestore.Store
	ServerAccount, ToolAccount store.Account
	Inbox                      store.MailboxInfo
	// Raced is set once the server expunged UID 2 under the tool.
	Raced bool
}

// NewBeside sets up a Beside in a fresh directory, bodies inline
// (inlineMax 0) or in files (-1); everything closes when the test ends.
func NewBeside(t *testing.T, inlineMax int64) *Beside {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *sqlitestore.Store {
		s, err := sqlitestore.Open(dir, sqlitestore.Options{InlineBodyMax: inlineMax})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	account := func(s *sqlitestore.Store) store.Account {
		a, err := s.Open(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	b := &Beside{Server: open()}
	if err := b.Server.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	b.ServerAccount = account(b.Server)
	var err error
	if b.Inbox, err = b.ServerAccount.Mailbox(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	var msgs []store.NewMessage
	for i := range 3 {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))})
	}
	if _, err := b.ServerAccount.Append(ctx, b.Inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	// The tool is another process: its own store on the same directory,
	// whose readers the server cannot wait for.
	b.Tool = open()
	b.ToolAccount = account(b.Tool)
	return b
}

// Racing returns the tool's handle on alice such that, the first time a
// body is opened through it, the server expunges UID 2 and reclaims its
// body (the test fails unless exactly that one body goes).
func (b *Beside) Racing(t *testing.T) store.Account {
	return racingAccount{b.ToolAccount, func() {
		if b.Raced {
			return
		}
		b.Raced = true
		ctx := context.Background()
		if _, err := b.ServerAccount.Expunge(ctx, b.Inbox.ID, store.UIDSetOf(2)); err != nil {
			t.Fatal(err)
		}
		if st, err := b.Server.Reclaim(ctx, "alice", -1); err != nil || st.Bodies != 1 {
			t.Fatalf("reclaim = %+v, %v", st, err)
		}
	}}
}

// racingAccount calls before ahead of every OpenBlob.
type racingAccount struct {
	store.Account
	before func()
}

func (a racingAccount) OpenBlob(ctx context.Context, id string) (store.Blob, error) {
	a.before()
	return a.Account.OpenBlob(ctx, id)
}
