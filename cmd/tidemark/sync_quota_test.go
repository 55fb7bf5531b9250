package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestQuotaFromOneShotSync: a SETQUOTA limit that a one-shot `tidemark
// sync` writes into the data directory of a running server applies there
// without a restart (the server reloads the overrides file when it
// changes), and the running server's own later SETQUOTA still wins.
func TestQuotaFromOneShotSync(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret)
	appendConf(t, "[quota]\nadmins = [\"alice\"]\n", confA, confB)
	createAlice(t, filepath.Join(root, "a", "data"), filepath.Join(root, "b", "data"))
	startPair(t, bin, confA, confB)
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
