package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// runDeliverPipe runs `tidemark deliver ARGS` with msg written into a pipe
// as standard input.
func runDeliverPipe(t *testing.T, msg string, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		io.WriteString(w, msg)
		w.Close()
	}()
	defer r.Close()
	var stderr bytes.Buffer
	code := deliverMain(context.Background(), args, r, &stderr)
	return code, stderr.String()
}

func newDataDir(t *testing.T, users ...string) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, u := range users {
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mailboxMessages returns the flags and bytes of each message in a mailbox.
func mailboxMessages(t *testing.T, dir, user, mailbox string) (flags []store.Flags, bodies []string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.Open(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	info, err := acct.Mailbox(ctx, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	err = acct.Messages(ctx, info.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
		b, err := acct.OpenBlob(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		data, err := io.ReadAll(b)
		flags = append(flags, m.Flags)
		bodies = append(bodies, string(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return flags, bodies
}

func TestDeliverCommand(t *testing.T) {
	dir := newDataDir(t, "alice")
	msg := "From: a@example.org\nSubject: local delivery\n\nbody\n"

	if code, errOut := runDeliverPipe(t, msg, "--data", dir, "--user", "alice", "--flags", `\Seen,$Label1 Work`); code != exOK {
		t.Fatalf("deliver: exit %d: %s", code, errOut)
	}
	flags, bodies := mailboxMessages(t, dir, "alice", "INBOX")
	want := store.Flags{System: store.FlagSeen, Keywords: []string{"$Label1", "Work"}}
	// Stored with CRLF line endings, as IMAP serves messages.
	if len(bodies) != 1 || bodies[0] != strings.ReplaceAll(msg, "\n", "\r\n") || !flags[0].Equal(want) {
		t.Fatalf("INBOX: %q %+v", bodies, flags)
	}

	// A missing mailbox: INBOX, unless --create.
	if code, errOut := runDeliverPipe(t, msg+"2\n", "--data", dir, "--user", "alice", "--mailbox", "Lists/Go"); code != exOK || !strings.Contains(errOut, "delivering to INBOX") {
		t.Fatalf("missing mailbox: exit %d: %s", code, errOut)
	}
	if code, errOut := runDeliverPipe(t, msg+"3\n", "--data", dir, "--user", "alice", "--mailbox", "Lists/Go", "--create"); code != exOK {
		t.Fatalf("--create: exit %d: %s", code, errOut)
	}
	if _, b := mailboxMessages(t, dir, "alice", "INBOX"); len(b) != 2 {
		t.Errorf("INBOX has %d messages, want 2", len(b))
	}
	if _, b := mailboxMessages(t, dir, "alice", "Lists/Go"); len(b) != 1 || b[0] != strings.ReplaceAll(msg+"3\n", "\n", "\r\n") {
		t.Errorf("Lists/Go: %q", b)
	}
}

func TestDeliverExitCodes(t *testing.T) {
	dir := newDataDir(t, "alice")
	msg := "Subject: x\n\nbody\n"
	for _, c := range []struct {
		name string
		msg  string
		args []string
		code int
	}{
		{"unknown user", msg, []string{"--data", dir, "--user", "nobody"}, exNoUser},
		{"bad system flag", msg, []string{"--data", dir, "--user", "alice", "--flags", `\Recent`}, exUsage},
		{"bad keyword", msg, []string{"--data", dir, "--user", "alice", "--flags", `a(b`}, exUsage},
		{"no user flag", msg, []string{"--data", dir}, exUsage},
		{"empty message", "", []string{"--data", dir, "--user", "alice"}, exDataErr},
		{"too big", msg + strings.Repeat("x", 2000) + "\n", []string{"--data", dir, "--user", "alice", "--max-size", "1000"}, exDataErr},
		{"no data dir", msg, []string{"--data", dir + "/missing", "--user", "alice"}, exConfig},
	} {
		if code, errOut := runDeliverPipe(t, c.msg, c.args...); code != c.code {
			t.Errorf("%s: exit %d, want %d (%s)", c.name, code, c.code, errOut)
		}
	}
	if _, b := mailboxMessages(t, dir, "alice", "INBOX"); len(b) != 0 {
		t.Errorf("refused deliveries stored %d messages", len(b))
	}
}
