package sqlitestore

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The replica crash test runs a child that copies "source" messages into a
// mailbox in batches, each batch carrying the sync state "copied = N" in
// its transaction, resuming from that state as a migration does, and
// printing "ACK N" after each batch returned. The parent kills it with
// SIGKILL at a random moment, reopens the store and checks that the state
// and the mailbox agree exactly: nothing copied twice, nothing lost, no
// acknowledged batch missing.
//
//	TIDEMARK_REPLICA_CRASH_ROUNDS=N  kill/reopen rounds (default 5)
//	TIDEMARK_REPLICA_CRASH_SEED=S    seed of the kill times and batch sizes (default 1)

const replicaCrashEnv = "TIDEMARK_REPLICA_CRASH_DIR"

func TestReplicaCrashChild(t *testing.T) {
	dir := os.Getenv(replicaCrashEnv)
	if dir == "" {
		t.Skip("run by TestReplicaCrash")
	}
	fail := func(err error) {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	s, err := Open(dir, Options{InlineBodyMax: crashInlineMax})
	if err != nil {
		fail(err)
	}
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		fail(err)
	}
	mb, err := r.CreateMailbox(ctx, "copy", 4242, store.CreateOptions{})
	if err != nil {
		fail(err)
	}
	st, err := r.SyncState(ctx, "src")
	if err != nil {
		fail(err)
	}
	done, _ := strconv.Atoi(string(st["copied"]))
	seed, _ := strconv.ParseUint(os.Getenv("TIDEMARK_REPLICA_CRASH_CHILD_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 3))
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "READY") // the kill clock starts now, however slow the start was
	out.Flush()
	for {
		k := 1 + rng.IntN(8)
		var b store.Batch
		for i := 0; i < k; i++ {
			n := done + i + 1
			b.Append = append(b.Append, store.ReplicaMessage{UID: store.UID(n),
				Body: strings.NewReader(testMessage(n, "X-Pad: "+strings.Repeat("y", rng.IntN(4000))+"\r\n"))})
		}
		done += k
		b.Peer, b.State = "src", map[string][]byte{"copied": []byte(strconv.Itoa(done))}
		if _, err := r.Apply(ctx, mb.ID, b); err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "ACK %d\n", done)
		out.Flush()
	}
}

func TestReplicaCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	rounds := envInt("TIDEMARK_REPLICA_CRASH_ROUNDS", 5)
	seed := uint64(envInt("TIDEMARK_REPLICA_CRASH_SEED", 1))
	t.Logf("seed %d (TIDEMARK_REPLICA_CRASH_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	acked := 0
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), replicaCrashEnv+"="+dir,
			"TIDEMARK_REPLICA_CRASH_CHILD_SEED="+strconv.FormatUint(rng.Uint64(), 10))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		killAfter := time.Duration(150+rng.IntN(400)) * time.Millisecond
		var kill <-chan time.Time
		killed := false
		roundAcks := 0
	read:
		for {
			select {
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				killed, kill = true, nil
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				switch {
				case len(f) == 0:
				case f[0] == "READY":
					kill = time.After(killAfter)
				case f[0] == "ERR":
					t.Fatalf("child: %s", l)
				case f[0] == "ACK":
					acked, _ = strconv.Atoi(f[1])
					roundAcks++
				}
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited by itself", round)
		}

		s := openStore(t, dir, Options{})
		r := newReplica(t, s)
		st, err := r.SyncState(ctx, "src")
		if err != nil {
			t.Fatal(err)
		}
		copied, _ := strconv.Atoi(string(st["copied"]))
		a, err := s.openAccount(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		mb := mustMailbox(t, a, "copy")
		snap, err := a.Snapshot(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if copied < acked {
			t.Fatalf("round %d: state says %d copied, %d acknowledged", round, copied, acked)
		}
		if len(snap.Messages) != copied || int(mb.UIDNext) != copied+1 {
			t.Fatalf("round %d: state says %d copied, mailbox has %d messages, UIDNEXT %d", round, copied, len(snap.Messages), mb.UIDNext)
		}
		for i, m := range snap.Messages {
			if m.UID != store.UID(i+1) {
				t.Fatalf("round %d: message %d has UID %d", round, i+1, m.UID)
			}
		}
		assertClean(t, s, "alice")
		t.Logf("round %d: %d acknowledged batches, %d messages copied", round, roundAcks, copied)
		acked = copied
		a.Close()
		r.Close()
		s.Close()
	}
	if acked == 0 {
		t.Fatal("nothing was copied")
	}
}
