package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// TestSetQuotaOnEveryNode: two front ends on one database; a SETQUOTA
// sent to one applies on the other at once: GETQUOTAROOT there shows it,
// and an APPEND past it there is refused.
func TestSetQuotaOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice")
	}
	dsn := pgtest.DSN(t)
	pgCreateUsers(t, dsn, "joe")
	section := pgSection(dsn) + "[quota]\nadmins = [\"joe\"]\n"
	bin := buildTidemark(t)
	nodeA := startNodeWith(t, bin, section, "joe")
	nodeB := startNodeWith(t, bin, section, "joe")
	a := dialIMAPAs(t, nodeA.addrs["imap"], "joe")
	b := dialIMAPAs(t, nodeB.addrs["imap"], "joe")
	a.run(`SETQUOTA "" (MESSAGE 1)`)
	got := strings.Join(b.run(`GETQUOTAROOT INBOX`), "\n")
	if !strings.Contains(got, `* QUOTA "" (MESSAGE 0 1)`) {
		t.Fatalf("GETQUOTAROOT on the other node:\n%s", got)
	}
	b.appendMsg(1)
	b.next++
	tag := fmt.Sprintf("t%d", b.next)
	body := "Subject: two\r\n\r\nx\r\n"
	fmt.Fprintf(b.c, "%s APPEND INBOX {%d+}\r\n%s\r\n", tag, len(body), body)
	for {
		l := b.read()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.Contains(l, "[OVERQUOTA]") {
				t.Fatalf("APPEND past the limit set on the other node: %s", l)
			}
			break
		}
	}
}
