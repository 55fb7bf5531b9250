package migrate

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// The kill test runs migrations in a child process (this test binary) and
// kills it with SIGKILL in the middle of copying, several times; then a
// last run finishes. The target must hold the source's mail exactly once,
// with the source's UIDs.
//
//	TIDEMARK_MIGRATE_KILL_SEED=S  seed of the kill points (default 1)

const killChildEnv = "TIDEMARK_MIGRATE_KILL_DIR"

func TestMigrateKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("run by TestDovecotKillAndResume")
	}
	port, _ := strconv.Atoi(os.Getenv("TIDEMARK_MIGRATE_KILL_PORT"))
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	_, err = Run(context.Background(), st, "alice", &Source{User: os.Getenv("TIDEMARK_MIGRATE_KILL_USER"), Host: "127.0.0.1", Port: port},
		Options{Password: "pass", BatchMessages: 20, Progress: func(p Progress) {
			fmt.Fprintf(out, "P %s %d\n", p.Mailbox, p.Done)
			out.Flush()
		}})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("DONE")
	os.Exit(0)
}

func TestDovecotKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	d := startDovecot(t, "")
	user := "testuser5"
	d.resetUser(t, user)
	c := d.client(t, user)
	if err := c.Create("Big", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendAll(t, c, "INBOX", makeMessages("INBOX", 0, 600))
	appendAll(t, c, "Big", makeMessages("Big", 0, 300))
	c.Logout().Wait()

	seed := uint64(envInt("TIDEMARK_MIGRATE_KILL_SEED", 1))
	t.Logf("seed %d (TIDEMARK_MIGRATE_KILL_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	dir := t.TempDir()
	st, a := newTargetIn(t, dir)
	killedMidway := 0
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir, "TIDEMARK_MIGRATE_KILL_USER="+user,
			"TIDEMARK_MIGRATE_KILL_PORT="+strconv.Itoa(d.port))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 40 + rng.IntN(200)
		sc := bufio.NewScanner(stdout)
		seen, killed, done := 0, false, false
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "ERR"):
				cmd.Process.Kill()
				t.Fatalf("child: %s", l)
			case l == "DONE":
				done = true
			case strings.HasPrefix(l, "P "):
				seen++
				if seen == killAt && !killed {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			}
		}
		cmd.Wait()
		snapshotCount := 0
		mbs, _ := a.Mailboxes(context.Background())
		for _, mb := range mbs {
			st, _ := a.Status(context.Background(), mb.ID)
			snapshotCount += int(st.Messages)
		}
		t.Logf("round %d: killed after %d messages received (done %v); the target holds %d", round, seen, done, snapshotCount)
		if killed && !done && snapshotCount < 900 {
			killedMidway++
		}
	}
	if killedMidway == 0 {
		t.Fatal("no run was killed in the middle of the copy")
	}
	s := migrateOnce(t, st, d.source(user))
	t.Logf("final run copied %d", s.Messages)
	assertSameMail(t, d, user, a, true)
	problems, err := st.Check(context.Background(), "alice")
	if err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", problems, err)
	}
	if s := migrateOnce(t, st, d.source(user)); s.Messages != 0 || s.Fetches != 0 {
		t.Fatalf("run after the resume: %+v", s)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
