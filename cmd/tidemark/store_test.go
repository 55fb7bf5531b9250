package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestCommandsOnPostgres: the one-shot commands reach the PostgreSQL store
// named by --config, through the one factory: user add creates the mail
// store user there, deliver stores a message, export reads it back, check
// verifies it, user del removes it.
func TestCommandsOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "tidemark.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\n[store]\nkind = \"postgres\"\ndsn = %q\n", data, dsn)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runUserCmd(t, "pw-for-ann\n", "add", "--data", data, "--config", conf, "ann"); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	// The mail store user is in the database, not under data/users.
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if users, _ := st.Users(context.Background()); len(users) != 1 || users[0] != "ann" {
		t.Fatalf("database users %v", users)
	}
	if _, err := os.Stat(filepath.Join(data, "users", "ann")); err == nil {
		t.Fatal("user add made an embedded store too")
	}
	msg := "Subject: via deliver\r\nMessage-ID: <d1@x>\r\n\r\nhello\r\n"
	if code, errOut := runDeliverPipe(t, msg, "--data", data, "--config", conf, "--user", "ann"); code != 0 {
		t.Fatalf("deliver: %d %s", code, errOut)
	}
	a, err := st.Open(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	if s, _ := a.Status(context.Background(), inbox.ID); s.Messages != 1 {
		t.Fatalf("INBOX after deliver: %+v", s)
	}
	a.Close()
	out := filepath.Join(dir, "out.mbox")
	var so, se bytes.Buffer
	if code := exportMain(context.Background(), []string{"--data", data, "--config", conf, "--user", "ann", "--mbox", out}, &so, &se); code != 0 {
		t.Fatalf("export: %d %s", code, se.String())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "INBOX.mbox")); !strings.Contains(string(b), "Subject: via deliver") {
		t.Fatalf("export wrote %q", b)
	}
	t.Setenv("TIDEMARK_CONFIG", conf) // check takes it from the environment
	if code := runCheck([]string{"--data", data}); code != 0 {
		t.Fatalf("check: exit %d", code)
	}
	if code, _, errOut := runUserCmd(t, "", "del", "--yes", "--data", data, "--config", conf, "ann"); code != 0 {
		t.Fatalf("user del: %d %s", code, errOut)
	}
	if _, err := st.Open(context.Background(), "ann"); err == nil || !strings.Contains(err.Error(), store.ErrNoUser.Error()) {
		t.Fatalf("after user del: %v", err)
	}
}
