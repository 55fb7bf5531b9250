package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The randomized convergence test: two or three replicas take random
// operations on every side, syncing only some pairs now and then (so
// replicas stay partitioned for a while and make conflicting changes),
// then sync until quiet. Afterwards every replica must be identical
// (mailboxes, ids, UIDs, UIDVALIDITY, UIDNEXT, flags, keywords, contents,
// subscriptions), no acknowledged message may be missing (unless a
// client expunged it or deleted its mailbox), none a client expunged may
// be back, none may be duplicated, and every store must pass its
// consistency check.
//
// The default seeds (two replicas; three in a full mesh and in a star)
// run in the suite. TIDEMARK_REPLICA_SEED=N runs one seed, TIDEMARK_REPLICA_SEEDS=N runs N
// seeds from it, TIDEMARK_REPLICA_ROUNDS sets the rounds per seed, and
// TIDEMARK_REPLICA_VERBOSE=1 logs every operation and sync. Operations
// follow the seed; mailbox ids and EMAILIDs are random, so a run can
// differ where the rules compare them.

func convergeSeeds(t *testing.T, defaults []uint64) []uint64 {
	seeds := defaults
	if s := os.Getenv("TIDEMARK_REPLICA_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		n := 1
		if c := os.Getenv("TIDEMARK_REPLICA_SEEDS"); c != "" {
			if n, err = strconv.Atoi(c); err != nil {
				t.Fatal(err)
			}
		}
		seeds = nil
		for i := range n {
			seeds = append(seeds, v+uint64(i))
		}
	}
	return seeds
}

func convergeRounds(def int) int {
	if s := os.Getenv("TIDEMARK_REPLICA_ROUNDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

func TestConvergeTwo(t *testing.T) {
	for _, seed := range convergeSeeds(t, []uint64{1, 2, 3}) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { converge(t, seed, 2, convergeRounds(25)) })
	}
}

// TestConvergeStar: three replicas, one of which syncs with both others
// (a primary with two replicas); the two never sync directly.
func TestConvergeStar(t *testing.T) {
	for _, seed := range convergeSeeds(t, []uint64{21, 22}) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { convergeTopo(t, seed, 3, convergeRounds(20), true) })
	}
}

func TestConvergeThree(t *testing.T) {
	for _, seed := range convergeSeeds(t, []uint64{11, 12}) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { converge(t, seed, 3, convergeRounds(20)) })
	}
}

// model is what clients were told: every message appended (by number),
// the ones a client expunged, and the ones in a mailbox a client deleted.
type model struct {
	next     int
	appended map[int]bool
	expunged map[int]bool
	deleted  map[int]bool
}

const user = "u"

// linked reports whether replicas i and j sync with each other: every pair
// in a mesh, only pairs with replica 0 in a star.
func linked(star bool, i, j int) bool { return !star || i == 0 }

func converge(t *testing.T, seed uint64, n, rounds int) { convergeTopo(t, seed, n, rounds, false) }

func convergeTopo(t *testing.T, seed uint64, n, rounds int, star bool) {
	t.Logf("seed %d, %d replicas, %d rounds (TIDEMARK_REPLICA_SEED=%d to rerun)", seed, n, rounds, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = newNode(t, fmt.Sprintf("n%d", i))
	}
	nodes[0].acct(user)
	m := &model{appended: map[int]bool{}, expunged: map[int]bool{}, deleted: map[int]bool{}}
	syncAll := func() {
		for i := range nodes {
			for j := i + 1; j < len(nodes); j++ {
				if linked(star, i, j) {
					syncNodes(t, nodes[i], nodes[j])
				}
			}
		}
	}
	syncAll()
	for round := range rounds {
		for _, nd := range nodes {
			for range rng.IntN(5) {
				randomOp(t, rng, nd, m)
			}
		}
		// Only some pairs talk this round: the others stay apart.
		for i := range nodes {
			for j := i + 1; j < len(nodes); j++ {
				if rng.IntN(3) == 0 && linked(star, i, j) {
					a, b := nodes[i], nodes[j]
					if rng.IntN(2) == 0 {
						a, b = b, a
					}
					var lg *slog.Logger
					if os.Getenv("TIDEMARK_REPLICA_VERBOSE") != "" {
						lg = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
					}
					if _, err := Sync(ctx, a.side, b.side, Options{Logger: lg}); err != nil {
						t.Fatalf("round %d: sync %s↔%s: %v", round, a.name, b.name, err)
					}
					if os.Getenv("TIDEMARK_REPLICA_VERBOSE") != "" {
						t.Logf("round %d: synced %s↔%s: %s: %s", round, a.name, b.name, a.name, brief(t, a))
						t.Logf("round %d: synced %s↔%s: %s: %s", round, a.name, b.name, b.name, brief(t, b))
					}
				}
			}
		}
	}
	// Reconnected: sync until nothing moves.
	for pass := 0; ; pass++ {
		moved := 0
		for i := range nodes {
			for j := i + 1; j < len(nodes); j++ {
				if !linked(star, i, j) {
					continue
				}
				var lg *slog.Logger
				if pass > 2 && os.Getenv("TIDEMARK_REPLICA_VERBOSE") != "" {
					lg = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
					t.Logf("before pass %d: %s: %s", pass, nodes[i].name, brief(t, nodes[i]))
					t.Logf("before pass %d: %s: %s", pass, nodes[j].name, brief(t, nodes[j]))
				}
				st, err := Sync(ctx, nodes[i].side, nodes[j].side, Options{Logger: lg})
				if err != nil {
					t.Fatal(err)
				}
				moved += st.Mailboxes + st.AccountOps
				if pass > 2 {
					t.Logf("pass %d %s↔%s: %+v", pass, nodes[i].name, nodes[j].name, st)
				}
			}
		}
		if moved == 0 {
			break
		}
		if pass == 6 {
			t.Fatalf("still changing after %d passes", pass)
		}
	}
	assertSame(t, user, false, nodes...)

	// What the replicas hold, by message number.
	present := map[int]int{}
	a := nodes[0].acct(user)
	mbs, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		for _, c := range contents(t, nodes[0], user, mb.Name) {
			num, _ := strconv.Atoi(c[strings.Index(c, ":")+1:])
			present[num]++
		}
	}
	for num, k := range present {
		switch {
		case !m.appended[num]:
			t.Errorf("message %d appears but was never appended", num)
		case k > 1:
			t.Errorf("message %d appears %d times", num, k)
		case m.expunged[num]:
			t.Errorf("message %d was expunged and is back", num)
		case m.deleted[num]:
			t.Errorf("message %d was in a deleted mailbox and is back", num)
		}
	}
	for num := range m.appended {
		if present[num] == 0 && !m.expunged[num] && !m.deleted[num] {
			t.Errorf("message %d was acknowledged and is lost", num)
		}
	}
	for _, nd := range nodes {
		probs, err := nd.store.Check(ctx, user)
		if err != nil || len(probs) > 0 {
			t.Errorf("%s: check: %v %v", nd.name, probs, err)
		}
	}
	t.Logf("converged: %d mailboxes, %d messages; %d appended, %d expunged, %d in deleted mailboxes",
		len(mbs), len(present), len(m.appended), len(m.expunged), len(m.deleted))
}

var names = []string{"a", "b", "c", "a/x", "b/y", "Archive", "Archive/2024"}

// randomOp makes one client change on a replica, recording in the model
// what the client was told.
func randomOp(t *testing.T, rng *rand.Rand, nd *node, m *model) {
	t.Helper()
	a := nd.acct(user)
	mbs, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mb := mbs[rng.IntN(len(mbs))]
	snap, err := a.Snapshot(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	pickUID := func() (store.UID, bool) {
		if len(snap.Messages) == 0 {
			return 0, false
		}
		return snap.Messages[rng.IntN(len(snap.Messages))].UID, true
	}
	ignore := func(err error) {
		if err != nil && !errors.Is(err, store.ErrMailboxExists) && !errors.Is(err, store.ErrNoMailbox) && !errors.Is(err, store.ErrCannot) {
			t.Fatal(err)
		}
	}
	flags := []store.Flags{{System: store.FlagSeen}, {System: store.FlagFlagged}, {System: store.FlagAnswered},
		{Keywords: []string{"Work"}}, {Keywords: []string{"todo"}}, {System: store.FlagSeen, Keywords: []string{"Work"}}}
	verbose := os.Getenv("TIDEMARK_REPLICA_VERBOSE") != ""
	if verbose {
		defer func() { t.Logf("%s: op on %s: %s", nd.name, mb.Name, brief(t, nd)) }()
	}
	op := rng.IntN(100)
	if verbose {
		kinds := []struct {
			below int
			name  string
		}{{35, "append"}, {60, "flags"}, {72, "expunge"}, {80, "create"}, {86, "rename"}, {91, "delete"}, {100, "subscribe"}}
		for _, k := range kinds {
			if op < k.below {
				defer t.Logf("%s: %s", nd.name, k.name)
				break
			}
		}
	}
	switch {
	case op < 35: // append
		m.next++
		num := m.next
		body := fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\nMessage-ID: <%d.%s@example.org>\r\n\r\nbody %d\r\n", num, num, nd.name, num)
		_, err := a.Append(ctx, mb.ID, []store.NewMessage{{Body: strings.NewReader(body),
			Flags: flags[rng.IntN(len(flags))], InternalDate: time.Unix(1700000000+int64(num), 0).UTC()}})
		if err != nil {
			t.Fatal(err)
		}
		m.appended[num] = true
	case op < 60: // flags
		if u, ok := pickUID(); ok {
			ops := []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsReplace}
			_, err := a.SetFlags(ctx, mb.ID, store.UIDSetOf(u), ops[rng.IntN(3)], flags[rng.IntN(len(flags))], 0)
			if err != nil {
				t.Fatal(err)
			}
		}
	case op < 72: // expunge
		if u, ok := pickUID(); ok {
			num := messageNumber(t, nd, mb, u)
			res, err := a.Expunge(ctx, mb.ID, store.UIDSetOf(u))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.UIDs) == 1 {
				m.expunged[num] = true
			}
		}
	case op < 80: // create
		_, err := a.CreateMailbox(ctx, names[rng.IntN(len(names))], store.CreateOptions{})
		ignore(err)
	case op < 86: // rename
		if mb.Name != "INBOX" {
			ignore(a.RenameMailbox(ctx, mb.Name, names[rng.IntN(len(names))]+fmt.Sprint(rng.IntN(3))))
		}
	case op < 91: // delete
		if mb.Name != "INBOX" {
			var nums []int
			for _, s := range snap.Messages {
				nums = append(nums, messageNumber(t, nd, mb, s.UID))
			}
			err := a.DeleteMailbox(ctx, mb.Name)
			ignore(err)
			if err == nil {
				for _, num := range nums {
					m.deleted[num] = true
				}
			}
		}
	default: // subscriptions
		ignore(a.SetSubscribed(ctx, names[rng.IntN(len(names))], rng.IntN(2) == 0))
	}
}

func messageNumber(t *testing.T, nd *node, mb store.MailboxInfo, u store.UID) int {
	t.Helper()
	num := -1
	err := nd.acct(user).Messages(ctx, mb.ID, store.UIDSetOf(u), func(d *store.MessageData) error {
		num, _ = strconv.Atoi(strings.TrimPrefix(d.Structure.Search.Subject, "message "))
		return nil
	})
	if err != nil || num < 0 {
		t.Fatalf("message %d of %s: %v", u, mb.Name, err)
	}
	return num
}

// brief is a one-line view of a replica for verbose runs.
func brief(t *testing.T, nd *node) string {
	mbs, _ := nd.acct(user).Mailboxes(ctx)
	var b strings.Builder
	for _, mb := range mbs {
		fmt.Fprintf(&b, "%s(next %d)%v ", mb.Name, mb.UIDNext, contents(t, nd, user, mb.Name))
	}
	return b.String()
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
