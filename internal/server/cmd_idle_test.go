package server

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestIdleRaw(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("i IDLE")
	c.expect(`^\+ idling$`)
	env.appendMessages("INBOX", 2, store.Flags{})
	// Whether IDLE or the helper claims \Recent first is a race.
	c.expect(`^\* 2 EXISTS$`, `^\* [0-2] RECENT$`)
	c.send("DONE")
	c.expect(`^i OK IDLE completed$`)
	c.send("i2 IDLE")
	c.expect(`^\+ idling$`)
	c.send("NOT-DONE")
	c.expect(`^i2 BAD Expected DONE$`)
}

func TestIdleShutdown(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	c.send("i IDLE")
	c.expect(`^\+ idling$`)
	waiting := env.dial() // a second client, between commands
	done := make(chan error, 1)
	go func() { done <- env.srv.Shutdown(context.Background()) }()
	c.expect(`^\* BYE Server shutting down$`)
	c.expectClosed()
	waiting.expect(`^\* BYE Server shutting down$`)
	waiting.expectClosed()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestImapclient drives the server with an independent client library.
// idleForExists puts cl in IDLE, appends a message to INBOX from the
// store's side and wants the EXISTS of want messages, which the client's
// unilateral-data handler sends on exists, before IDLE ends; the same
// whether the connection is plain or compressed.
func idleForExists(t *testing.T, env *testEnv, cl *imapclient.Client, exists <-chan uint32, want uint32) {
	t.Helper()
	idle, err := cl.Idle()
	if err != nil {
		t.Fatal(err)
	}
	env.appendMessages("INBOX", 1, store.Flags{})
	select {
	case n := <-exists:
		if n != want {
			t.Fatalf("EXISTS %d, want %d", n, want)
		}
	case <-time.After(hangDeadline):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{System: store.FlagSeen})
	exists := make(chan uint32, 10)
	cl, err := imapclient.DialInsecure(env.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := cl.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 3 || sel.UIDNext != 4 || sel.UIDValidity == 0 || sel.HighestModSeq == 0 {
		t.Fatalf("select data %+v", sel)
	}
	idleForExists(t, env, cl, exists, 4)
	caps, err := cl.Capability().Wait()
	if err != nil || !caps.Has(imap.CapIMAP4rev2) || !caps.Has(imap.CapIdle) {
		t.Fatalf("capabilities %v %v", caps, err)
	}
	if err := cl.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
