package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitUntil repeats cmd on ic until one of its untagged responses
// contains want.
func waitUntil(t *testing.T, ic *imapConn, cmd, want string) []string {
	t.Helper()
	return pollIMAP(t, ic, cmd, fmt.Sprintf("showed %q", want), func(out []string, tagged string) bool {
		return strings.Contains(tagged, " OK") && strings.Contains(strings.Join(out, "\n"), want)
	})
}

// pollIMAP repeats cmd until done accepts its answer (30 s at most) and
// returns the untagged responses; what describes done in the failure.
func pollIMAP(t *testing.T, ic *imapConn, cmd, what string, done func(out []string, tagged string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, tagged := ic.try(cmd)
		if done(out, tagged) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never %s: %q %s", cmd, what, out, tagged)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetadataReplicate: two `tidemark serve` replicating continuously.
// SETMETADATA on A (a mailbox entry and a server entry) shows in
// GETMETADATA on B, and B's INBOX is at A's HIGHESTMODSEQ at once (the
// change takes the same modseq there); a delete on B comes back to A.
func TestMetadataReplicate(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret, replB)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret, replA)
	createAlice(t, filepath.Join(root, "a", "data"), filepath.Join(root, "b", "data"))
	startPair(t, bin, confA, confB)
	ca, cb := dialIMAP(t, imapA), dialIMAP(t, imapB)
	ca.appendMsg(1)
	ca.run(`SETMETADATA INBOX (/private/comment "hello from A")`)
	ca.run(`SETMETADATA "" (/private/vendor/tidemark/theme "dark")`)
	hmsA := find(t, ca.run("STATUS INBOX (HIGHESTMODSEQ)"), reHMS)

	waitUntil(t, cb, `GETMETADATA "" /private/vendor/tidemark/theme`, `"dark"`)
	waitUntil(t, cb, "GETMETADATA INBOX /private/comment", `"hello from A"`)
	if hmsB := find(t, cb.run("STATUS INBOX (HIGHESTMODSEQ)"), reHMS); hmsB != hmsA {
		t.Fatalf("B's HIGHESTMODSEQ %s after the SETMETADATA, A's %s", hmsB, hmsA)
	}

	cb.run("SETMETADATA INBOX (/private/comment NIL)")
	hmsB := find(t, cb.run("STATUS INBOX (HIGHESTMODSEQ)"), reHMS)
	waitUntil(t, ca, "STATUS INBOX (HIGHESTMODSEQ)", "HIGHESTMODSEQ "+hmsB+")")
	if out := ca.run("GETMETADATA INBOX /private/comment"); len(out) != 0 {
		t.Fatalf("A still has the entry B deleted: %q", out)
	}
}
