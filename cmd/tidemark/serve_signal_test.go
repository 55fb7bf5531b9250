package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// hasOpen reports whether process pid has a file open whose path ends in
// name (Linux /proc).
func hasOpen(pid int, name string) bool {
	fds, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fd", "*"))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.HasSuffix(target, name) {
			return true
		}
	}
	return false
}

// A SIGHUP that arrives while the server is starting (here: held up by a
// write lock on the accounts database while it creates the demo account,
// before any listener is open) neither kills it nor is lost: the server
// comes up, reloads its certificate, and serves.
func TestSIGHUPDuringStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to see the server reach its accounts database")
	}
	bin := buildTidemark(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	accts, err := auth.OpenAccountsWith(data, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	accts.Close()
	db, err := sql.Open("sqlite", filepath.Join(data, "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			conn.ExecContext(ctx, "ROLLBACK")
		}
	}()

	sb := startServe(t, bin, "--data", data, "--imap", "127.0.0.1:0", "--imaps", "", "--log-format", "json")
	pid := sb.cmd.Process.Pid
	deadline := time.Now().Add(hangDeadline)
	for !hasOpen(pid, "accounts.db") {
		if time.Now().After(deadline) {
			t.Fatal("the server never opened its accounts database")
		}
		time.Sleep(time.Millisecond)
	}
	if err := sb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	sb.waitLog("listening")
	sb.waitLog("certificate reloaded")
	if err := sb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sb.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
