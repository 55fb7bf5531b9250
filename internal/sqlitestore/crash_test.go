package sqlitestore

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The crash test re-executes the test binary as a child that appends,
// flags and expunges in a loop, printing each operation before it starts
// ("BEGIN") and after it returned ("ACK"). The parent kills the child with
// SIGKILL at a random moment, reopens the store and checks that every
// acknowledged write is there, that Check is clean and that HIGHESTMODSEQ
// never went down.
//
//	TIDEMARK_CRASH_ROUNDS=N   kill/reopen rounds (default 6)
//	TIDEMARK_CRASH_WRITERS=N  writers in the child at once (default 4),
//	                          whose writes share commits; the odd ones
//	                          defer their syncs (store.DeferSync) and
//	                          acknowledge after MakeDurable
//	TIDEMARK_CRASH_SEED=N     the random choices' seed (default 1, always
//	                          logged); each round's child gets seed+round.
//	                          When the kill lands still depends on timing.

const crashChildEnv = "TIDEMARK_CRASH_CHILD_DIR"

// crashSeedEnv carries the seed to the child.
const crashSeedEnv = "TIDEMARK_CRASH_SEED"

// crashWritersEnv sets how many writers the child runs at once
// (default 4).
const crashWritersEnv = "TIDEMARK_CRASH_WRITERS"

// crashInlineMax is the child's inline body threshold.
const crashInlineMax = 2000

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	// Bodies are padded to 0..4000 bytes: about half are stored inline,
	// half in blob files, and some batches mix the two.
	s, err := Open(dir, Options{InlineBodyMax: crashInlineMax})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	inbox := mustMailbox(t, a, "INBOX")
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	// Several writers at once, so that their writes share commits (group
	// commit, tx.go): each works on the messages it appended itself (and
	// its share of those found at start), so acknowledgements never race.
	writers := envInt(crashWritersEnv, 4)
	live := make([][]store.UID, writers)
	for _, m := range snap.Messages {
		w := int(m.UID) % writers
		live[w] = append(live[w], m.UID)
	}
	var outMu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := range writers {
		// Odd writers defer their syncs, as a session running pipelined
		// commands does, and acknowledge a few writes at a time after
		// one MakeDurable.
		var deferTo *Store
		if w%2 == 1 {
			deferTo = s
		}
		go crashWriter(t, a, inbox.ID, w, live[w], deferTo, func(format string, args ...any) {
			outMu.Lock()
			defer outMu.Unlock()
			fmt.Fprintf(out, format+"\n", args...)
			out.Flush()
		})
	}
	select {} // until killed
}

// crashWriter is one of the child's writers; every line it says carries
// its number after BEGIN or ACK. With deferTo set it writes under
// store.DeferSync and holds its acknowledgements until a MakeDurable,
// after one to four writes.
func crashWriter(t *testing.T, a *Account, inbox store.MailboxID, w int, live []store.UID, deferTo *Store, say func(format string, args ...any)) {
	rng := rand.New(rand.NewPCG(uint64(envInt(crashSeedEnv, 1)), uint64(w)))
	ctx := ctx
	var held []string
	ack := func(format string, args ...any) {
		if deferTo == nil {
			say(format, args...)
			return
		}
		held = append(held, fmt.Sprintf(format, args...))
		if rng.IntN(3) > 0 && len(held) < 4 {
			return
		}
		if err := deferTo.MakeDurable(ctx); err != nil {
			say("ERR %v", err)
			os.Exit(1)
		}
		for _, l := range held {
			say("%s", l)
		}
		held = held[:0]
	}
	if deferTo != nil {
		ctx = store.DeferSync(ctx)
	}
	for n := 0; ; n++ {
		switch r := rng.IntN(10); {
		case r < 5 || len(live) == 0:
			k := 1 + rng.IntN(3)
			var msgs []store.NewMessage
			for i := 0; i < k; i++ {
				msgs = append(msgs, store.NewMessage{Body: strings.NewReader(testMessage(n*10+i, "X-Pad: "+strings.Repeat("x", rng.IntN(4000))+"\r\n"))})
			}
			say("BEGIN %d A", w)
			res, err := a.Append(ctx, inbox, msgs)
			if err != nil {
				say("ERR %v", err)
				os.Exit(1)
			}
			live = append(live, res.UIDs...)
			ack("ACK %d A %s %d", w, store.UIDSetOf(res.UIDs...), res.ModSeq)
		case r < 8:
			u := live[rng.IntN(len(live))]
			kw := fmt.Sprintf("k%d_%d", w, n)
			say("BEGIN %d F %d %s", w, u, kw)
			res, err := a.SetFlags(ctx, inbox, store.UIDSetOf(u), store.FlagsAdd, store.Flags{System: store.FlagSeen, Keywords: []string{kw}}, 0)
			if err != nil {
				say("ERR %v", err)
				os.Exit(1)
			}
			ack("ACK %d F %d %s %d", w, u, kw, res.ModSeq)
		default:
			i := rng.IntN(len(live))
			u := live[i]
			say("BEGIN %d E %d", w, u)
			res, err := a.Expunge(ctx, inbox, store.UIDSetOf(u))
			if err != nil {
				say("ERR %v", err)
				os.Exit(1)
			}
			live = append(live[:i], live[i+1:]...)
			ack("ACK %d E %d %d", w, u, res.ModSeq)
		}
	}
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	rounds := envInt("TIDEMARK_CRASH_ROUNDS", 6)
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	appended := map[store.UID]bool{} // acknowledged, not yet acknowledged as expunged
	keywords := map[store.UID][]string{}
	var maxAcked, lastHMS store.ModSeq
	seed := envInt(crashSeedEnv, 1)
	t.Logf("seed %d (%s=%d to repeat the same choices)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	totalAcks := 0
	inlineSeen, filesSeen := 0, 0 // bodies of surviving messages, summed over rounds
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s=%d", crashSeedEnv, seed+round))
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
		// The kill comes at a random moment after the child's first
		// acknowledgement, so a slow start on a loaded machine still
		// leaves every round some acknowledged work to check.
		killAfter := time.Duration(100+rng.IntN(400)) * time.Millisecond
		var kill <-chan time.Time
		hang := time.After(2 * time.Minute) // only a child that never acknowledges
		inFlight := map[string][]string{}   // writer → its BEGIN lines not yet acknowledged, in order
		killed := false
	read:
		for {
			select {
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				kill = nil
			case <-hang:
				if kill == nil && !killed {
					cmd.Process.Signal(syscall.SIGKILL)
					t.Fatalf("round %d: the child acknowledged nothing", round)
				}
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				switch f[0] {
				case "ERR":
					t.Fatalf("child: %s", l)
				case "BEGIN":
					inFlight[f[1]] = append(inFlight[f[1]], l)
					continue
				case "ACK":
				default:
					continue // test framework output
				}
				inFlight[f[1]] = inFlight[f[1]][1:]
				f = append(f[:1], f[2:]...) // the writer's number is not needed further
				totalAcks++
				if kill == nil && !killed {
					kill = time.After(killAfter)
				}
				ms, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
				maxAcked = max(maxAcked, store.ModSeq(ms))
				switch f[1] {
				case "A":
					for _, r := range parseSet(t, f[2]) {
						for u := r.Start; u <= r.Stop; u++ {
							appended[u] = true
						}
					}
				case "F":
					u := parseUID(t, f[2])
					keywords[u] = append(keywords[u], f[3])
				case "E":
					delete(appended, parseUID(t, f[2]))
				}
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited by itself", round)
		}

		s := openStore(t, dir, Options{})
		a, err := s.openAccount(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		inbox := mustMailbox(t, a, "INBOX")
		snap, err := a.Snapshot(ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		have := map[store.UID]store.MessageState{}
		for _, m := range snap.Messages {
			have[m.UID] = m
		}
		expungeInFlight := map[store.UID]bool{}
		for _, ls := range inFlight {
			for _, l := range ls {
				if f := strings.Fields(l); len(f) == 4 && f[2] == "E" {
					expungeInFlight[parseUID(t, f[3])] = true
				}
			}
		}
		for u := range appended {
			m, ok := have[u]
			if !ok {
				if expungeInFlight[u] {
					delete(appended, u) // it did commit
					continue
				}
				t.Fatalf("round %d: acknowledged UID %d lost", round, u)
			}
			for _, k := range keywords[u] {
				if !m.Flags.Has(k) {
					t.Fatalf("round %d: UID %d lost acknowledged keyword %s", round, u, k)
				}
			}
		}
		if inbox.HighestModSeq < maxAcked || inbox.HighestModSeq < lastHMS {
			t.Fatalf("round %d: HIGHESTMODSEQ %d, acknowledged %d, before %d", round, inbox.HighestModSeq, maxAcked, lastHMS)
		}
		lastHMS = inbox.HighestModSeq
		assertClean(t, s, "alice")
		var all store.UIDSet
		all.AddRange(1, store.MaxUID)
		if err := a.Messages(ctx, inbox.ID, all, func(m *store.MessageData) error {
			if _, ok, _ := inlineData(ctx, a.u.r, m.BlobID); ok {
				inlineSeen++
			} else if hasBlobFile(a, m.BlobID) {
				filesSeen++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		a.Close()
		s.Close()
	}
	if totalAcks < rounds {
		t.Fatalf("only %d acknowledged operations in %d rounds", totalAcks, rounds)
	}
	if inlineSeen == 0 || filesSeen == 0 {
		t.Fatalf("bodies checked: %d inline, %d in files; the test must cover both", inlineSeen, filesSeen)
	}
	t.Logf("%d rounds, %d acknowledged operations, final HIGHESTMODSEQ %d, %d inline and %d file bodies checked",
		rounds, totalAcks, lastHMS, inlineSeen, filesSeen)
}

func parseUID(t *testing.T, s string) store.UID {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("bad UID %q", s)
	}
	return store.UID(n)
}

func parseSet(t *testing.T, s string) store.UIDSet {
	var set store.UIDSet
	for _, part := range strings.Split(s, ",") {
		lo, hi, found := strings.Cut(part, ":")
		if !found {
			hi = lo
		}
		set.AddRange(parseUID(t, lo), parseUID(t, hi))
	}
	return set
}
