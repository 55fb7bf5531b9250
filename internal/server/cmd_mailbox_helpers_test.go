package server

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// mbxRun sends one command and checks every line of the answer exactly,
// the tagged response last.
func (c *client) mbxRun(cmd string, want ...string) {
	c.t.Helper()
	c.send(cmd)
	tag := cmd[:strings.IndexByte(cmd, ' ')+1]
	got := c.until(tag)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		c.t.Fatalf("%s\n got:\n  %s\nwant:\n  %s", cmd, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// mbxCreate creates mailboxes through the store, as another session would.
func mbxCreate(t *testing.T, a store.Account, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := a.CreateMailbox(context.Background(), n, store.CreateOptions{}); err != nil {
			t.Fatalf("create %q: %v", n, err)
		}
	}
}

func mbxSubscribe(t *testing.T, a store.Account, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := a.SetSubscribed(context.Background(), n, true); err != nil {
			t.Fatalf("subscribe %q: %v", n, err)
		}
	}
}

func mbxDelete(t *testing.T, a store.Account, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := a.DeleteMailbox(context.Background(), n); err != nil {
			t.Fatalf("delete %q: %v", n, err)
		}
	}
}

// rev2 logs in and enables IMAP4rev2.
func (c *client) loginRev2() {
	c.t.Helper()
	c.login()
	c.mbxRun("E1 ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "E1 OK ENABLE completed")
}
