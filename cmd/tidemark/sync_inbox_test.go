package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestInboxAdoptedWhileSelected: a client has B's INBOX selected when B
// first meets A, whose INBOX holds mail: B's INBOX takes A's identity and
// UIDVALIDITY. The client is told (BYE) instead of being left with UIDs of
// the old UIDVALIDITY, and on reconnecting sees A's UIDVALIDITY and mail.
func TestInboxAdoptedWhileSelected(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret, replB)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret)
	createAlice(t, filepath.Join(root, "a", "data"), filepath.Join(root, "b", "data"))
	b := startServe(t, bin, "--config", confB)
	waitListening(b)
	cb := dialIMAP(t, imapB)
	oldUV := find(t, cb.run("SELECT INBOX"), reUV)

	// A has mail in its INBOX, made by a client before it replicates.
	stA, err := sqlitestore.Open(filepath.Join(root, "a", "data"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := stA.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// A rename of INBOX leaves a new INBOX with the next UIDVALIDITY, so
	// that the two INBOXes differ even when made in the same second.
	// Both INBOXes may have been made in the same second, with the same
	// UIDVALIDITY: A's empty INBOX takes another one (as a copy does).
	r, err := stA.OpenReplica(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := strconv.ParseUint(oldUV, 10, 32)
	if _, err := r.CreateMailbox(context.Background(), "INBOX", uint32(old)+7, store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	in, _ := acct.Mailbox(context.Background(), "INBOX")
	if _, err := acct.Append(context.Background(), in.ID, []store.NewMessage{{Body: strings.NewReader("Subject: on A\r\n\r\nbody\r\n")}}); err != nil {
		t.Fatal(err)
	}
	newUV := fmt.Sprint(in.UIDValidity)
	t.Logf("B %s, A %s (%s)", oldUV, newUV, in.Name)
	acct.Close()
	stA.Close()
	if newUV == oldUV {
		t.Skipf("both INBOXes got the same UIDVALIDITY %s", newUV)
	}
	a := startServe(t, bin, "--config", confA)
	waitListening(a)

	// B adopts A's INBOX; the selected session on B ends with BYE at its
	// next command.
	probe := dialIMAP(t, imapB)
	deadline := time.Now().Add(hangDeadline)
	for !strings.Contains(probe.run("STATUS INBOX (UIDVALIDITY MESSAGES)")[0], "UIDVALIDITY "+newUV) {
		if time.Now().After(deadline) {
			t.Fatal("B never adopted A's INBOX")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cb.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := cb.c.Write([]byte("n1 NOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	bye := false
	for {
		l, err := cb.r.ReadString('\n')
		if strings.HasPrefix(l, "* BYE") {
			bye = true
		}
		if err != nil || strings.HasPrefix(l, "n1 ") {
			break
		}
	}
	if !bye {
		t.Fatal("the session with the old INBOX selected was not told")
	}
	sel := dialIMAP(t, imapB).run("SELECT INBOX")
	if uv := find(t, sel, reUV); uv != newUV {
		t.Fatalf("UIDVALIDITY after reconnecting: %s, want %s", uv, newUV)
	}
}
