package openbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func newStore(t testing.TB) (*sqlitestore.Store, store.Account) {
	t.Helper()
	st, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acct.Close() })
	return st, acct
}

// messageSerial makes every test message distinct, deterministically.
var messageSerial atomic.Int64

func appendN(t testing.TB, acct store.Account, id store.MailboxID, n int, flags store.Flags) {
	t.Helper()
	msgs := make([]store.NewMessage, n)
	for i := range msgs {
		body := fmt.Sprintf("Subject: m%d\r\nMessage-ID: <%d.%d@x>\r\n\r\nbody %d\r\n", i, i, messageSerial.Add(1), i)
		msgs[i] = store.NewMessage{Body: strings.NewReader(body), Flags: flags}
	}
	if _, err := acct.Append(context.Background(), id, msgs); err != nil {
		t.Fatal(err)
	}
}

// requireMatchesStore checks that the box holds exactly the store's snapshot.
func requireMatchesStore(t *testing.T, b *Box, acct store.Account, id store.MailboxID) {
	t.Helper()
	snap, err := acct.Snapshot(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []store.MessageState
	b.Each(store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageState) { got = append(got, *m) })
	if !slices.EqualFunc(got, snap.Messages, func(a, b store.MessageState) bool {
		return a.UID == b.UID && a.ModSeq == b.ModSeq && a.Flags.Equal(b.Flags)
	}) {
		t.Fatalf("box differs from store:\nbox   %v\nstore %v", got, snap.Messages)
	}
	// The figures kept incrementally must equal a fresh count.
	var unseen int
	var firstUnseen uint32
	var deleted store.UIDSet
	for i, m := range snap.Messages {
		if m.Flags.System&store.FlagSeen == 0 {
			if unseen == 0 {
				firstUnseen = uint32(i + 1)
			}
			unseen++
		}
		if m.Flags.System&store.FlagDeleted != 0 {
			deleted.Add(m.UID)
		}
		for _, k := range m.Flags.Keywords {
			if !slices.ContainsFunc(summary(b).Keywords, func(x string) bool { return strings.EqualFold(x, k) }) {
				t.Fatalf("keyword %q in use but not in the summary %v", k, summary(b).Keywords)
			}
		}
	}
	if sum := summary(b); sum.Messages != len(snap.Messages) || sum.Unseen != unseen || sum.FirstUnseenSeq != firstUnseen {
		t.Fatalf("summary %+v, want %d messages, %d unseen, first unseen %d", sum, len(snap.Messages), unseen, firstUnseen)
	}
	if got := b.Deleted(); got.String() != deleted.String() {
		t.Fatalf("Deleted() = %v, want %v", got, deleted)
	}
	if b.DeletedIn(nil) != !deleted.Empty() {
		t.Fatalf("DeletedIn(nil) = %v with %v deleted", b.DeletedIn(nil), deleted)
	}
	var uids []store.UID
	for _, m := range snap.Messages {
		uids = append(uids, m.UID)
		// With few messages DeletedIn looks at every one: exact.
		if got, want := b.DeletedIn(store.UIDSetOf(m.UID)), deleted.Contains(m.UID); got != want {
			t.Fatalf("DeletedIn(%d) = %v, want %v", m.UID, got, want)
		}
	}
	if _, held, _ := b.Current(); !slices.Equal(held.Slice(), uids) {
		t.Fatalf("UID list %v, store %v", held.Slice(), uids)
	}
	if b.Info().HighestModSeq != snap.Mailbox.HighestModSeq {
		t.Fatalf("box at modseq %d, store at %d", b.Info().HighestModSeq, snap.Mailbox.HighestModSeq)
	}
}

func TestBoxFollowsStore(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, err := acct.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, acct, inbox.ID, 20, store.Flags{})
	reg := NewRegistry(st)
	b, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	requireMatchesStore(t, b, acct, inbox.ID)

	rng := rand.New(rand.NewPCG(1, 2))
	boundaries := []store.ModSeq{b.Info().HighestModSeq}
	for step := 0; step < 150; step++ {
		snap, _ := acct.Snapshot(ctx, inbox.ID)
		var set store.UIDSet
		for _, m := range snap.Messages {
			if rng.IntN(4) == 0 {
				set.Add(m.UID)
			}
		}
		switch rng.IntN(3) {
		case 0:
			appendN(t, acct, inbox.ID, 1+rng.IntN(3), store.Flags{System: store.SystemFlags(rng.IntN(2)) * store.FlagSeen})
		case 1:
			ops := []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsReplace}
			systems := []store.SystemFlags{store.FlagSeen, store.FlagDeleted, store.FlagFlagged, store.FlagSeen | store.FlagDeleted}
			change := store.Flags{System: systems[rng.IntN(len(systems))]}
			if rng.IntN(2) == 0 {
				change.Keywords = []string{fmt.Sprintf("$K%d", rng.IntN(5))}
			}
			if _, err := acct.SetFlags(ctx, inbox.ID, set, ops[rng.IntN(len(ops))], change, 0); err != nil && !set.Empty() {
				t.Fatal(err)
			}
		case 2:
			if _, err := acct.Expunge(ctx, inbox.ID, set); err != nil && !set.Empty() {
				t.Fatal(err)
			}
		}
		_, held, _ := b.Current() // as a view holds it
		heldCopy := held.Slice()
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(held.Slice(), heldCopy) {
			t.Fatalf("a UID list handed out by Current changed under its holder:\nnow  %v\nwas  %v", held.Slice(), heldCopy)
		}
		requireMatchesStore(t, b, acct, inbox.ID)
		boundaries = append(boundaries, b.Info().HighestModSeq)
		since := boundaries[rng.IntN(len(boundaries))]
		requireSameChanges(t, b, acct, inbox.ID, since)
	}
}

// requireSameChanges checks that the Box answers ChangesSince(since) from
// memory exactly as the store does.
func requireSameChanges(t *testing.T, b *Box, acct store.Account, id store.MailboxID, since store.ModSeq) {
	t.Helper()
	got, ok := b.ChangesSince(since)
	if !ok {
		t.Fatalf("box cannot answer changes since %d, a boundary it passed", since)
	}
	want, err := acct.ChangesSince(context.Background(), id, since)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b store.MessageState) bool {
		return a.UID == b.UID && a.ModSeq == b.ModSeq && a.Flags.Equal(b.Flags)
	}
	if !slices.EqualFunc(got.Changed, want.Changed, same) {
		t.Fatalf("changed since %d:\nbox   %v\nstore %v", since, got.Changed, want.Changed)
	}
	if got.Vanished.String() != want.Vanished.String() {
		t.Fatalf("vanished since %d: box %v, store %v", since, got.Vanished, want.Vanished)
	}
	if got.Mailbox.HighestModSeq != want.Mailbox.HighestModSeq || !got.Exact {
		t.Fatalf("box answer ends at %d (exact %v), store at %d", got.Mailbox.HighestModSeq, got.Exact, want.Mailbox.HighestModSeq)
	}
}

func TestSharedAndReleased(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	appendN(t, acct, inbox.ID, 5, store.Flags{})
	if _, err := acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(st)
	b1, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b1 != b2 || reg.Open() != 1 {
		t.Fatalf("two acquires of one mailbox gave different boxes (open=%d)", reg.Open())
	}
	sum := summary(b1)
	if sum.Messages != 5 || sum.Unseen != 3 || sum.FirstUnseenSeq != 3 {
		t.Fatalf("summary = %+v, want 5 messages, 3 unseen, first unseen seq 3", sum)
	}
	_, uids, _ := b1.Current()
	if !slices.Equal(uids.Slice(), []store.UID{1, 2, 3, 4, 5}) {
		t.Fatalf("UIDs = %v", uids)
	}
	b1.Release()
	if reg.Open() != 1 {
		t.Fatal("box closed while still held")
	}
	b2.Release()
	if reg.Open() != 0 {
		t.Fatal("box still open after the last release")
	}
}

// TestConcurrentWritersAndReaders runs writers and syncing readers at once;
// the race detector and the final comparison are the assertions.
func TestConcurrentWritersAndReaders(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	appendN(t, acct, inbox.ID, 50, store.Flags{})
	reg := NewRegistry(st)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				uid := store.UID(1 + (i*7+w)%50)
				if _, err := acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(uid), store.FlagsReplace, store.Flags{System: store.FlagSeen}, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				b, err := reg.Acquire(ctx, "alice", inbox.ID)
				if err != nil {
					t.Error(err)
					return
				}
				_ = summary(b)
				b.Release()
			}
		}()
	}
	wg.Wait()
	b, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	requireMatchesStore(t, b, acct, inbox.ID)
}

func BenchmarkSelectOpenMailbox(b *testing.B) {
	ctx := context.Background()
	st, acct := newStore(b)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	for i := 0; i < 10; i++ {
		appendN(b, acct, inbox.ID, 1000, store.Flags{})
	}
	reg := NewRegistry(st)
	hold, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer hold.Release()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		box, err := reg.Acquire(ctx, "alice", inbox.ID)
		if err != nil {
			b.Fatal(err)
		}
		_, uids, _ := box.Current()
		_ = summary(box)
		if uids.Len() != 10000 {
			b.Fatal(uids.Len())
		}
		box.Release()
	}
}

// A session woken by its own Hub watcher must find the Box already stale,
// whatever order the Hub woke its watchers in.
func TestSyncAfterWakeSeesCommit(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	reg := NewRegistry(st)
	b, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	w := st.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	for i := 1; i <= 20; i++ {
		appendN(t, acct, inbox.ID, 1, store.Flags{})
		<-w.C
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := summary(b).Messages; got != i {
			t.Fatalf("after append %d and a wake-up the box holds %d messages", i, got)
		}
	}
}

// A deletion is announced without a modseq; it still makes the next Sync
// ask the store, which reports the mailbox gone.
func TestSyncReportsDeletedMailbox(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	info, err := acct.CreateMailbox(ctx, "Old", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(st)
	b, err := reg.Acquire(ctx, "alice", info.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	// The store announces the deletion itself.
	if err := acct.DeleteMailbox(ctx, "Old"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Sync after deletion = %v, want ErrNoMailbox", err)
	}
}

// A Box no session holds stays for the next SELECT, catches up with what
// changed meanwhile, and goes when the idle bounds say so.
func TestIdleBoxes(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	other, err := acct.CreateMailbox(ctx, "Other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, acct, inbox.ID, 3, store.Flags{})
	appendN(t, acct, other.ID, 5, store.Flags{})
	reg := NewRegistry(st)
	defer reg.Close()
	reg.IdleMessages = 6

	b1, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	b1.Release()
	if reg.Open() != 0 || reg.Idle() != 1 {
		t.Fatalf("after release: open %d idle %d, want 0 and 1", reg.Open(), reg.Idle())
	}
	appendN(t, acct, inbox.ID, 2, store.Flags{}) // while idle
	b2, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b2 != b1 {
		t.Fatal("an idle Box was not reused")
	}
	requireMatchesStore(t, b2, acct, inbox.ID)
	b2.Release()

	// Five more idle messages pass the bound of six: the oldest goes.
	b3, err := reg.Acquire(ctx, "alice", other.ID)
	if err != nil {
		t.Fatal(err)
	}
	b3.Release()
	if reg.Idle() != 1 {
		t.Fatalf("idle = %d after passing the message bound, want 1", reg.Idle())
	}
	if b4, _ := reg.Acquire(ctx, "alice", inbox.ID); b4 == b1 {
		t.Fatal("the evicted Box came back")
	} else {
		b4.Release()
	}

	// Past IdleBoxes the oldest goes too.
	reg.mu.Lock()
	reg.IdleMessages, reg.IdleBoxes = 1000, 1
	reg.mu.Unlock()
	for _, id := range []store.MailboxID{inbox.ID, other.ID} {
		b, err := reg.Acquire(ctx, "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if reg.Idle() != 1 {
		t.Fatalf("idle = %d with IdleBoxes 1", reg.Idle())
	}

	// Past IdleTime every idle Box goes.
	reg.mu.Lock()
	reg.IdleTime = time.Millisecond
	reg.mu.Unlock()
	b5, _ := reg.Acquire(ctx, "alice", other.ID)
	b5.Release()
	deadline := time.Now().Add(2 * time.Minute) // only a hang
	for reg.Idle() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if reg.Idle() != 0 {
		t.Fatalf("idle = %d after IdleTime", reg.Idle())
	}
}

// A Box whose first Sync fails (its mailbox is gone) is not kept.
func TestBrokenBoxNotKept(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	gone, _ := acct.CreateMailbox(ctx, "Gone", store.CreateOptions{})
	if err := acct.DeleteMailbox(ctx, "Gone"); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(st)
	defer reg.Close()
	if _, err := reg.Acquire(ctx, "alice", gone.ID); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("Acquire of a deleted mailbox = %v", err)
	}
	if reg.Open() != 0 || reg.Idle() != 0 {
		t.Fatalf("a failed Box was kept: open %d idle %d", reg.Open(), reg.Idle())
	}
}

// A commit handed over by its maker is applied without a store read when
// it is the next step, and ignored (left to Sync) when it is not.
func TestCommitted(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	appendN(t, acct, inbox.ID, 10, store.Flags{})
	reg := NewRegistry(st)
	defer reg.Close()
	b, err := reg.Acquire(ctx, "alice", inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()

	res, err := acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(2, 3, 4), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.Committed(res.ModSeq, res.Changed)
	if b.Info().HighestModSeq != res.ModSeq {
		t.Fatalf("Committed of the next step was not applied (box at %d, commit %d)", b.Info().HighestModSeq, res.ModSeq)
	}
	requireMatchesStore(t, b, acct, inbox.ID) // no Sync in between

	// Another commit slips in first: the hand-over must be ignored.
	if _, err := acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(5), store.FlagsAdd, store.Flags{System: store.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	res, err = acct.SetFlags(ctx, inbox.ID, store.UIDSetOf(6), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := b.Info().HighestModSeq
	b.Committed(res.ModSeq, res.Changed)
	if b.Info().HighestModSeq != before {
		t.Fatal("Committed applied a commit that was not the next step")
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	requireMatchesStore(t, b, acct, inbox.ID)
}

func summary(b *Box) Summary {
	_, _, sum := b.Current()
	return sum
}

// slowOpen is the real store whose Open of one user waits until released,
// as a cold database on a slow disk would.
type slowOpen struct {
	store.Store
	user    string
	started chan struct{}
	release chan struct{}
}

func (s *slowOpen) Open(ctx context.Context, user string) (store.Account, error) {
	if user == s.user {
		close(s.started)
		<-s.release
	}
	return s.Store.Open(ctx, user)
}

// A user whose database is slow to open delays nobody else's Acquire: the
// registry lock is not held while a store opens.
func TestSlowOpenBlocksNoOtherUser(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	if err := st.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	slow := &slowOpen{Store: st, user: "bob", started: make(chan struct{}), release: make(chan struct{})}
	reg := NewRegistry(slow)
	defer reg.Close()
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	bobAcct, err := st.Open(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bobAcct.Close()
	bobInbox, _ := bobAcct.Mailbox(ctx, "INBOX")

	bobDone := make(chan error, 1)
	go func() {
		b, err := reg.Acquire(ctx, "bob", bobInbox.ID)
		if err == nil {
			b.Release()
		}
		bobDone <- err
	}()
	<-slow.started
	aliceDone := make(chan error, 1)
	go func() {
		b, err := reg.Acquire(ctx, "alice", inbox.ID)
		if err == nil {
			b.Release()
		}
		aliceDone <- err
	}()
	select {
	case err := <-aliceDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // only a hang gets here
		t.Fatal("alice's Acquire waited for bob's store to open")
	}
	close(slow.release)
	if err := <-bobDone; err != nil {
		t.Fatal(err)
	}
	if reg.Idle() != 2 {
		t.Fatalf("idle = %d, want 2", reg.Idle())
	}
}

// Two Acquires racing to open the same cold mailbox end with one Box; the
// second handle is closed, not leaked.
func TestConcurrentFirstAcquireSharesOneBox(t *testing.T) {
	ctx := context.Background()
	st, acct := newStore(t)
	inbox, _ := acct.Mailbox(ctx, "INBOX")
	reg := NewRegistry(st)
	defer reg.Close()
	var wg sync.WaitGroup
	boxes := make([]*Box, 8)
	for i := range boxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := reg.Acquire(ctx, "alice", inbox.ID)
			if err != nil {
				t.Error(err)
				return
			}
			boxes[i] = b
		}()
	}
	wg.Wait()
	for _, b := range boxes[1:] {
		if b != boxes[0] {
			t.Fatal("two Boxes for one mailbox")
		}
	}
	if reg.Open() != 1 {
		t.Fatalf("open = %d", reg.Open())
	}
	for _, b := range boxes {
		b.Release()
	}
}

// The registry runs at most one expiry timer however many Boxes go idle,
// stops it when nothing is idle or on Close, and leaves no Hub watcher
// behind once every Box is gone.
func TestOneTimerAndNoWatchersLeft(t *testing.T) {
	var created atomic.Int64
	afterFunc = func(d time.Duration, f func()) *time.Timer {
		created.Add(1)
		return time.AfterFunc(d, f)
	}
	t.Cleanup(func() { afterFunc = time.AfterFunc })
	ctx := context.Background()
	st, acct := newStore(t)
	var ids []store.MailboxID
	for i := range 5 {
		mb, err := acct.CreateMailbox(ctx, fmt.Sprintf("box%d", i), store.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, mb.ID)
	}
	reg := NewRegistry(st)
	for i := range 1000 {
		b, err := reg.Acquire(ctx, "alice", ids[i%len(ids)])
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if n := created.Load(); n != 1 {
		t.Fatalf("%d timers made for 1000 releases, want 1", n)
	}
	if n := st.Hub().Watched(); n != len(ids) {
		t.Fatalf("hub watches %d mailboxes with %d idle Boxes", n, reg.Idle())
	}
	reg.Close()
	reg.mu.Lock()
	timer := reg.timer
	reg.mu.Unlock()
	if timer != nil {
		t.Fatal("the expiry timer is still armed after Close")
	}
	if n := st.Hub().Watched(); n != 0 {
		t.Fatalf("hub still watches %d mailboxes after Close", n)
	}
}

// TestClaimRecentShared: the \Recent claims of a Box's sessions go to the
// store once per new floor: a claim the Box knows is already covered is
// answered from memory with the floor, and a failed one teaches nothing.
func TestClaimRecentShared(t *testing.T) {
	b := &Box{}
	calls := 0
	claim := func(prev, after store.UID, err error) func() (store.UID, store.UID, error) {
		return func() (store.UID, store.UID, error) { calls++; return prev, after, err }
	}
	if prev, err := b.ClaimRecent(5, claim(1, 5, nil)); prev != 1 || err != nil || calls != 1 {
		t.Fatalf("first claim: prev %d, %v, %d calls", prev, err, calls)
	}
	for range 3 {
		if prev, err := b.ClaimRecent(5, claim(0, 0, errors.New("must not be called"))); prev != 5 || err != nil {
			t.Fatalf("covered claim: prev %d, %v", prev, err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d store calls for claims below the known floor", calls)
	}
	if _, err := b.ClaimRecent(9, claim(5, 0, errors.New("disk"))); err == nil {
		t.Fatal("error lost")
	}
	if prev, _ := b.ClaimRecent(9, claim(7, 9, nil)); prev != 7 || calls != 3 {
		t.Fatalf("claim after a failure: prev %d, %d calls", prev, calls)
	}
}
