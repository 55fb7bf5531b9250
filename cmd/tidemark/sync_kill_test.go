package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestPushKilled: continuous replication from A to B, with kill -9 of the
// sending side in the middle of the initial push, changes (expunges of
// messages B may already hold, new mail) made on A while it is down, then
// kill -9 of the receiving side in the middle of the resumed push. After
// both restart, B converges by itself to exactly A's mailbox: every
// message once, under A's UIDs, the expunged ones on neither.
func TestPushKilled(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret, replB)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret)
	dataA, dataB := filepath.Join(root, "a", "data"), filepath.Join(root, "b", "data")

	const n, extra, gone = 2000, 100, 50
	withA := func(f func(a store.Account, in store.MailboxInfo)) {
		st, err := sqlitestore.Open(dataA, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx := context.Background()
		if err := st.CreateUser(ctx, "alice"); err != nil && !errors.Is(err, store.ErrUserExists) {
			t.Fatal(err)
		}
		a, err := st.Open(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		in, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		f(a, in)
	}
	appendRange := func(a store.Account, in store.MailboxInfo, from, to int) {
		for i := from; i < to; i += 100 {
			var msgs []store.NewMessage
			for j := i; j < min(i+100, to); j++ {
				body := fmt.Sprintf("Subject: message %d\r\nMessage-ID: <%d@pushkilled>\r\n\r\n%s\r\n", j, j, strings.Repeat("text ", 200))
				msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body)})
			}
			if _, err := a.Append(context.Background(), in.ID, msgs); err != nil {
				t.Fatal(err)
			}
		}
	}
	withA(func(a store.Account, in store.MailboxInfo) { appendRange(a, in, 0, n) })

	walGrows := func(past int64) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if fi, err := os.Stat(filepath.Join(dataB, "users", "alice", "meta.db-wal")); err == nil && fi.Size() > past {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	kill := func(sb *servedBinary) {
		sb.cmd.Process.Signal(syscall.SIGKILL)
		sb.cmd.Wait()
	}

	b := startServe(t, bin, "--config", confB)
	waitListening(b)
	a := startServe(t, bin, "--config", confA)
	waitListening(a)
	// The sender dies part way through the initial push (any point must
	// do; this one is after B has stored some messages).
	walGrows(512 << 10)
	kill(a)

	// While A is down, a client expunges its first messages (some of
	// which B holds) and more mail arrives.
	withA(func(a store.Account, in store.MailboxInfo) {
		if _, err := a.Expunge(context.Background(), in.ID, store.UIDSet{{Start: 1, Stop: gone}}); err != nil {
			t.Fatal(err)
		}
		appendRange(a, in, n, n+extra)
	})

	a = startServe(t, bin, "--config", confA)
	waitListening(a)
	// Now the receiver dies in the middle of the resumed push.
	walGrows(1 << 20)
	kill(b)
	b = startServe(t, bin, "--config", confB)
	waitListening(b)

	// B converges by itself (A's pusher reconnects).
	ca, cb := dialIMAP(t, imapA), dialIMAP(t, imapB)
	deadline := time.Now().Add(hangDeadline)
	for {
		want := ca.run("STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)")[0]
		got := cb.run("STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)")[0]
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			var logs []string
			for _, sb := range []*servedBinary{a, b} {
			drain:
				for {
					select {
					case rec, ok := <-sb.logs:
						if !ok {
							break drain
						}
						if rec["level"] != "INFO" {
							logs = append(logs, fmt.Sprint(rec))
						}
					default:
						break drain
					}
				}
			}
			t.Fatalf("B never converged: %q, A %q\n%s", got, want, strings.Join(logs, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	ca.c.Close()
	cb.c.Close()
	for _, sb := range []*servedBinary{a, b} {
		sb.cmd.Process.Signal(syscall.SIGTERM)
		sb.cmd.Wait()
	}

	// Both stores: every message once, under A's UIDs, none expunged back.
	for _, dir := range []string{dataA, dataB} {
		st, err := sqlitestore.Open(dir, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		acct, err := st.Open(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		in, _ := acct.Mailbox(context.Background(), "INBOX")
		seen := map[string]bool{}
		count := 0
		err = acct.Messages(context.Background(), in.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(d *store.MessageData) error {
			if d.UID <= gone {
				return fmt.Errorf("UID %d was expunged and is back", d.UID)
			}
			if want := fmt.Sprintf("message %d", d.UID-1); d.Structure.Search.Subject != want {
				return fmt.Errorf("UID %d holds %q", d.UID, d.Structure.Search.Subject)
			}
			if seen[d.BlobID] {
				return fmt.Errorf("UID %d: content twice", d.UID)
			}
			seen[d.BlobID] = true
			count++
			return nil
		})
		acct.Close()
		st.Close()
		if err != nil || count != n+extra-gone || in.UIDNext != n+extra+1 {
			t.Fatalf("%s: %d messages, UIDNEXT %d, %v", dir, count, in.UIDNext, err)
		}
	}
}
