package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSyncedMessagesReadTheSame: `tidemark sync` between a node on the
// embedded store and one on PostgreSQL, mail on both (tricky MIME on the
// embedded one, appended through its store; random MIME on the other,
// appended over IMAP). Bodies cross with what their sender derived from
// them and are not parsed again on either backend (the sync says so), and
// both servers then answer FETCH BODYSTRUCTURE, ENVELOPE and PREVIEW,
// SEARCH, SORT and THREAD alike, byte for byte.
func TestSyncedMessagesReadTheSame(t *testing.T) {
	bin, root, secret := replicaTest(t)
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	imapS, imapP, replP := freeAddr(t), freeAddr(t), freeAddr(t)
	confS := nodeConf(t, filepath.Join(root, "s"), imapS, "", true, "alice")
	confP := nodeConf(t, filepath.Join(root, "p"), imapP,
		pgSection(dsn)+fmt.Sprintf("[replication]\nlisten = %q\nsecret_file = %q\n", replP, secret), false, "alice")
	pgCreateUsers(t, dsn, "alice")

	r := rand.New(rand.NewPCG(11, 12))
	var onS []store.NewMessage
	emls, err := filepath.Glob(filepath.Join("..", "..", "internal", "message", "testdata", "*.eml"))
	if err != nil || len(emls) == 0 {
		t.Fatalf("test messages: %v %v", emls, err)
	}
	for _, f := range emls {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		onS = append(onS, store.NewMessage{Body: bytes.NewReader(b)})
	}
	for range 15 {
		onS = append(onS, store.NewMessage{Body: bytes.NewReader(messagetest.Message(r))})
	}
	st, err := sqlitestore.Open(filepath.Join(root, "s", "data"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	in, err := a.Mailbox(ctx, "INBOX")
	if err == nil {
		_, err = a.Append(ctx, in.ID, onS)
	}
	a.Close()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	p := startServe(t, bin, "--config", confP)
	waitListening(p)
	cp := dialIMAP(t, imapP)
	cp.run("CREATE Other")
	const onP = 15
	for range onP {
		body := messagetest.Message(r)
		cp.run(fmt.Sprintf("APPEND Other {%d+}\r\n%s", len(body), body))
	}

	out, err := exec.Command(bin, "sync", "--config", confS, "--peer", replP, "--secret-file", secret, "--user", "alice").CombinedOutput()
	total := len(onS) + onP
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d bodies sent", total)) ||
		!strings.Contains(string(out), fmt.Sprintf(", %d not parsed again, ", total)) {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	// S's bodies go to PostgreSQL compressed as S stores them (most of
	// them: those that compress), and P decompresses them; P's come back
	// as they are.
	var compressed int
	if _, err := fmt.Sscanf(string(out[strings.Index(string(out), "not parsed again, ")+len("not parsed again, "):]), "%d sent compressed", &compressed); err != nil ||
		compressed == 0 || compressed > len(onS) {
		t.Fatalf("sync: %d bodies sent compressed (%v), want some and at most the %d of S\n%s", compressed, err, len(onS), out)
	}

	s := startServe(t, bin, "--config", confS)
	s.waitLog("listening")
	cs := dialIMAP(t, imapS)
	modseq := regexp.MustCompile(` MODSEQ \(\d+\)`)
	answers := func(c *imapConn) []string {
		var all []string
		for _, mb := range []string{"INBOX", "Other"} {
			c.run("EXAMINE " + mb)
			cmds := []string{
				"UID FETCH 1:* (RFC822.SIZE ENVELOPE BODYSTRUCTURE PREVIEW BODY.PEEK[1.MIME])",
				"UID SORT (SUBJECT FROM DATE) UTF-8 ALL",
				"UID THREAD REFERENCES UTF-8 ALL",
			}
			for _, w := range messagetest.Words[:16] {
				q := fmt.Sprintf("{%d+}\r\n%s", len(w), w)
				cmds = append(cmds, "UID SEARCH CHARSET UTF-8 TEXT "+q, "UID SEARCH CHARSET UTF-8 BODY "+q, "UID SEARCH CHARSET UTF-8 SUBJECT "+q)
			}
			for _, cmd := range cmds {
				all = append(all, cmd)
				for _, l := range withoutRecent(c.run(cmd)) {
					all = append(all, modseq.ReplaceAllString(l, ""))
				}
			}
		}
		return all
	}
	fromS, fromP := answers(cs), answers(cp)
	if !slices.Equal(fromS, fromP) {
		t.Fatalf("the embedded store answers:\n%s\n--- PostgreSQL answers:\n%s", strings.Join(fromS, "\n"), strings.Join(fromP, "\n"))
	}
	n := 0
	fetched := regexp.MustCompile(`^\* \d+ FETCH \(`)
	for _, l := range fromS {
		if fetched.MatchString(l) {
			n++
		}
	}
	if n != total {
		t.Fatalf("%d messages fetched, want %d", n, total)
	}
}
