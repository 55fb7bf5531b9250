package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// TestQuotaFromOneShotSync: a SETQUOTA limit that a one-shot `tidemark
// sync` writes into the data directory of a running server applies there
// without a restart (the server reloads the overrides file when it
// changes), and the running server's own later SETQUOTA still wins.
func TestQuotaFromOneShotSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	root := t.TempDir()
	secret := filepath.Join(root, "secret")
	if err := os.WriteFile(secret, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret)
	for _, conf := range []string{confA, confB} {
		f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "[quota]\nadmins = [\"alice\"]\n")
		f.Close()
	}
	for _, d := range []string{"a", "b"} {
		st, err := sqlitestore.Open(filepath.Join(root, d, "data"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	a := startServe(t, bin, "--config", confA)
	b := startServe(t, bin, "--config", confB)
	for _, sb := range []*servedBinary{a, b} {
		for sb.addrs["imap"] == "" || sb.addrs["replication"] == "" {
			sb.waitLog("listening")
		}
	}
	ca, cb := dialIMAP(t, imapA), dialIMAP(t, imapB)
	ca.run(`SETQUOTA "" (STORAGE 500 MESSAGE 40)`)
	// Neither server pushes to the other: B's directory is synced with A
	// by a one-shot run while B serves.
	out, err := exec.Command(bin, "sync", "--data", filepath.Join(root, "b", "data"), "--peer", replA, "--secret-file", secret).CombinedOutput()
	if err != nil {
		t.Fatalf("tidemark sync: %v\n%s", err, out)
	}
	waitQuota(t, cb, `""`, "MESSAGE 0 40)")
	cb.run(`SETQUOTA "" (STORAGE 700 MESSAGE 70)`)
	waitQuota(t, cb, `""`, "MESSAGE 0 70)")
}
