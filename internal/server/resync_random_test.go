package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// A randomized test of resynchronization as a caching client does it. Two
// writer sessions make random changes (flags, expunges, appends, moves);
// a caching client keeps uid -> (flags, modseq) and resyncs now and then,
// with SELECT (QRESYNC ...) or, in the second variant, CONDSTORE only
// (UID FETCH (CHANGEDSINCE) plus UID SEARCH ALL for the expunges). Some
// resyncs run while the writers are busy; after each round the writers
// stop, the client resyncs once more and its cache must equal a full
// UID FETCH 1:* (FLAGS MODSEQ).
//
// Short by default; TIDEMARK_RESYNC_LONG=1 runs many more rounds and
// TIDEMARK_RESYNC_SEED=n picks the seed (1 by default, always logged).

// rawConn is a plain IMAP connection for use from any goroutine: it
// returns errors instead of failing the test.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialRaw(addr string) (*rawConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &rawConn{conn: conn, r: bufio.NewReader(conn)}
	if _, err := c.line(); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.cmd("LOGIN " + testUser + " " + testPass); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *rawConn) line() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	l, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// cmd sends one command (which may carry a LITERAL+ literal) and returns
// the untagged lines; a tagged response other than OK is an error.
func (c *rawConn) cmd(text string) ([]string, error) {
	c.n++
	tag := "t" + strconv.Itoa(c.n)
	if _, err := io.WriteString(c.conn, tag+" "+text+"\r\n"); err != nil {
		return nil, err
	}
	var lines []string
	for {
		l, err := c.line()
		if err != nil {
			return lines, err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if !strings.HasPrefix(rest, "OK") {
				return lines, fmt.Errorf("%s: %s", text, l)
			}
			return append(lines, l), nil
		}
		lines = append(lines, l)
	}
}

func (c *rawConn) close() { c.conn.Close() }

// cached is what the caching client keeps per message.
type cached struct {
	flags  string // sorted, lower case, space separated
	modseq uint64
}

var (
	fetchUIDRe    = regexp.MustCompile(`^\* \d+ FETCH \(.*\bUID (\d+)\b`)
	fetchFlagsRe  = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	fetchModseqRe = regexp.MustCompile(`\bMODSEQ \((\d+)\)`)
)

func normFlags(s string) string {
	// \Recent is the state of one session (RFC 3501 2.3.2), not of the
	// message: a client does not keep it across sessions, nor does this
	// cache, which outlives them.
	f := slices.DeleteFunc(strings.Fields(strings.ToLower(s)), func(x string) bool { return x == `\recent` })
	slices.Sort(f)
	return strings.Join(f, " ")
}

// applyFetch records a FETCH line carrying UID, FLAGS and MODSEQ; it
// reports whether the line was one.
func applyFetch(cache map[store.UID]cached, l string) bool {
	m := fetchUIDRe.FindStringSubmatch(l)
	f := fetchFlagsRe.FindStringSubmatch(l)
	ms := fetchModseqRe.FindStringSubmatch(l)
	if m == nil || f == nil || ms == nil {
		return false
	}
	u, _ := strconv.ParseUint(m[1], 10, 32)
	mod, _ := strconv.ParseUint(ms[1], 10, 64)
	cache[store.UID(u)] = cached{normFlags(f[1]), mod}
	return true
}

type resyncMode int

const (
	modeQresync resyncMode = iota
	modeCondstore
)

// cachingClient is the client under test's model: a cache and the modseq
// it is valid at.
type cachingClient struct {
	t      *testing.T
	addr   string
	mode   resyncMode
	uv     uint32
	modseq store.ModSeq
	cache  map[store.UID]cached
}

func (cc *cachingClient) must(lines []string, err error) []string {
	cc.t.Helper()
	if err != nil {
		cc.t.Fatalf("%v (lines %q)", err, lines)
	}
	return lines
}

// resync connects, brings the cache up to date, and returns the open
// connection with INBOX selected.
func (cc *cachingClient) resync() *rawConn {
	cc.t.Helper()
	c, err := dialRaw(cc.addr)
	if err != nil {
		cc.t.Fatal(err)
	}
	switch cc.mode {
	case modeQresync:
		cc.must(c.cmd("ENABLE QRESYNC"))
		sel := "SELECT INBOX"
		if cc.uv != 0 {
			var known store.UIDSet
			for u := range cc.cache {
				known.Add(u)
			}
			sel += fmt.Sprintf(" (QRESYNC (%d %d", cc.uv, cc.modseq)
			if !known.Empty() {
				sel += " " + known.String()
			}
			sel += "))"
		}
		lines := cc.must(c.cmd(sel))
		cc.readSelect(lines)
		earlier := true
		for _, l := range lines {
			if set, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
				if !earlier {
					cc.t.Fatalf("VANISHED (EARLIER) after FETCH: %q", lines)
				}
				for _, u := range parseUIDSet(cc.t, set).UIDs() {
					delete(cc.cache, u)
				}
			} else if strings.HasPrefix(l, "* VANISHED ") {
				cc.t.Fatalf("plain VANISHED during SELECT: %q", lines)
			} else if applyFetch(cc.cache, l) {
				earlier = false
			}
		}
		// New messages are not covered by known-uids: fetch what lies
		// above the cache (RFC 7162 6, "discover new messages").
		var top store.UID
		for u := range cc.cache {
			top = max(top, u)
		}
		for _, l := range cc.must(c.cmd(fmt.Sprintf("UID FETCH %d:* (FLAGS MODSEQ)", top+1))) {
			if m := fetchUIDRe.FindStringSubmatch(l); m != nil {
				if u, _ := strconv.ParseUint(m[1], 10, 32); store.UID(u) > top {
					applyFetch(cc.cache, l)
				}
			}
		}
	case modeCondstore:
		lines := cc.must(c.cmd("SELECT INBOX (CONDSTORE)"))
		prev := cc.modseq
		cc.readSelect(lines)
		fetch := "UID FETCH 1:* (FLAGS MODSEQ)"
		if prev != 0 {
			fetch = fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", prev)
		}
		for _, l := range cc.must(c.cmd(fetch)) {
			applyFetch(cc.cache, l)
		}
		// Expunges: whatever the cache holds that SEARCH no longer finds
		// (RFC 7162 3.2.1: CONDSTORE alone cannot tell them otherwise).
		exists := store.UIDSet{}
		for _, l := range cc.must(c.cmd("UID SEARCH ALL")) {
			if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
				for _, f := range strings.Fields(rest) {
					u, _ := strconv.ParseUint(f, 10, 32)
					exists.Add(store.UID(u))
				}
			}
		}
		for u := range cc.cache {
			if !exists.Contains(u) {
				delete(cc.cache, u)
			}
		}
	}
	return c
}

// readSelect takes UIDVALIDITY and HIGHESTMODSEQ from a SELECT: the new
// modseq the cache will be valid at once the resync is applied.
func (cc *cachingClient) readSelect(lines []string) {
	cc.t.Helper()
	hms, n := highestModSeqIn(lines)
	if n != 1 {
		cc.t.Fatalf("SELECT gave %d HIGHESTMODSEQ: %q", n, lines)
	}
	if hms < cc.modseq {
		cc.t.Fatalf("HIGHESTMODSEQ went back from %d to %d", cc.modseq, hms)
	}
	cc.modseq = hms
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			n, _ := strconv.ParseUint(v[:strings.IndexByte(v, ']')], 10, 32)
			cc.uv = uint32(n)
		}
	}
}

// verify compares the cache with a full fetch on c.
func (cc *cachingClient) verify(c *rawConn, round int) {
	cc.t.Helper()
	full := map[store.UID]cached{}
	for _, l := range cc.must(c.cmd("UID FETCH 1:* (FLAGS MODSEQ)")) {
		applyFetch(full, l)
	}
	for u, want := range full {
		if got, ok := cc.cache[u]; !ok || got != want {
			cc.t.Fatalf("round %d: UID %d cached %+v (present %v), server %+v", round, u, got, ok, want)
		}
	}
	for u := range cc.cache {
		if _, ok := full[u]; !ok {
			cc.t.Fatalf("round %d: UID %d cached but gone from the server", round, u)
		}
	}
}

// writer makes random changes through its own session until stop closes.
func resyncWriter(addr string, seed uint64, maxUID func() store.UID, appended func(), stop <-chan struct{}) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	c, err := dialRaw(addr)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := c.cmd("SELECT INBOX"); err != nil {
		return err
	}
	flagNames := []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, `$Work`, `$Junk`}
	randFlags := func() string {
		var f []string
		for _, n := range flagNames {
			if rng.IntN(3) == 0 {
				f = append(f, n)
			}
		}
		return "(" + strings.Join(f, " ") + ")"
	}
	randSet := func() string {
		hi := int(maxUID())
		a := 1 + rng.IntN(hi)
		if rng.IntN(3) == 0 {
			return fmt.Sprintf("%d:%d", a, min(hi, a+rng.IntN(5)))
		}
		return strconv.Itoa(a)
	}
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		var err error
		switch op := rng.IntN(10); {
		case op < 5:
			verb := []string{"FLAGS", "+FLAGS", "-FLAGS", "+FLAGS.SILENT"}[rng.IntN(4)]
			_, err = c.cmd("UID STORE " + randSet() + " " + verb + " " + randFlags())
		case op < 7:
			set := randSet()
			if _, err = c.cmd("UID STORE " + set + ` +FLAGS.SILENT (\Deleted)`); err == nil {
				_, err = c.cmd("UID EXPUNGE " + set)
			}
		case op < 9:
			body := fmt.Sprintf("Subject: r%d\r\n\r\nbody\r\n", rng.IntN(1000))
			_, err = c.cmd(fmt.Sprintf("APPEND INBOX %s {%d+}\r\n%s", randFlags(), len(body), body))
			appended()
		default:
			_, err = c.cmd("UID MOVE " + randSet() + " Other")
		}
		if err != nil {
			return err
		}
	}
}

func TestResyncRandomQresync(t *testing.T)   { runResyncRandom(t, modeQresync) }
func TestResyncRandomCondstore(t *testing.T) { runResyncRandom(t, modeCondstore) }

func runResyncRandom(t *testing.T, mode resyncMode) {
	seed := uint64(1)
	if s := os.Getenv("TIDEMARK_RESYNC_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TIDEMARK_RESYNC_SEED: %v", err)
		}
	}
	rounds := 6
	if os.Getenv("TIDEMARK_RESYNC_LONG") != "" {
		rounds = 60
	}
	t.Logf("seed %d (TIDEMARK_RESYNC_SEED=%d to repeat)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	env := newTestEnv(t, nil)
	const initial = 40
	env.appendMessages("INBOX", initial, store.Flags{})
	if _, err := env.account().CreateMailbox(t.Context(), "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	top := store.UID(initial)
	maxUID := func() store.UID { mu.Lock(); defer mu.Unlock(); return top }
	appended := func() { mu.Lock(); top++; mu.Unlock() }

	cc := &cachingClient{t: t, addr: env.addr, mode: mode, cache: map[store.UID]cached{}}
	c := cc.resync()
	cc.verify(c, 0)
	c.close()
	for round := 1; round <= rounds; round++ {
		stop := make(chan struct{})
		errs := make(chan error, 2)
		for range 2 {
			seed := rng.Uint64()
			go func() { errs <- resyncWriter(env.addr, seed, maxUID, appended, stop) }()
		}
		// Resyncs while the writers work: they must not corrupt the cache
		// even though the mailbox moves under them.
		for range 1 + rng.IntN(3) {
			time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			cc.resync().close()
		}
		close(stop)
		for range 2 {
			if err := <-errs; err != nil && !errors.Is(err, net.ErrClosed) {
				t.Fatalf("writer: %v", err)
			}
		}
		// Sometimes prune the tombstones: the QRESYNC client must still end
		// up exact, through its known-uids.
		if mode == modeQresync && rng.IntN(3) == 0 {
			mb := env.mailbox("INBOX")
			if err := env.account().PruneTombstones(t.Context(), mb.ID, mb.HighestModSeq-store.ModSeq(rng.IntN(5))); err != nil {
				t.Fatal(err)
			}
		}
		c := cc.resync()
		cc.verify(c, round)
		c.close()
	}
	if len(cc.cache) == 0 && maxUID() == initial {
		t.Fatal("the writers did nothing")
	}
}
