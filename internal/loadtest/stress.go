package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The stress scenario: N clients share one mailbox and run a weighted
// random mix of commands for a while, each checking every response as a
// suspicious client would (see model for the invariants, and each op
// below for the checks of its command). Every violation is printed with
// the protocol lines around it and counted; so is every error (a NO or
// BAD the command did not deserve, a broken connection). It is the tool
// for finding races under load.

// StressOptions configure a stress run.
type StressOptions struct {
	Clients  int           // sessions on the mailbox (default 10)
	Duration time.Duration // how long (default 10s, unless Ops is set)
	// Ops, when positive, ends each session after that many operations
	// instead (Duration then only bounds a hung run, default 10 minutes):
	// the same work however fast the machine is.
	Ops     int
	Seed    uint64 // seed of the clients' random choices (each client its own stream)
	Mailbox string // shared mailbox (default "stress")
	// Out receives each violation and error with its context lines;
	// nil discards them.
	Out io.Writer
}

// StressReport is what a run found.
type StressReport struct {
	Clients    int
	Elapsed    time.Duration
	Commands   int64            // completed commands, all clients
	ByCommand  map[string]int64 // completed commands by kind
	Violations int64
	Errors     int64
	First      string // the first violation or error, for a summary
}

// Rate is commands per second over the run.
func (r StressReport) Rate() float64 { return float64(r.Commands) / r.Elapsed.Seconds() }

// stressWeights is the mix, in relative weights.
var stressWeights = []struct {
	name   string
	weight int
}{
	{"append", 12},
	{"fetch-flags", 14},
	{"fetch-envelope", 8},
	{"fetch-body", 12},
	{"store", 16},
	{"store-unchangedsince", 3},
	{"search", 8},
	{"expunge", 8},
	{"copy", 3},
	{"move", 3},
	{"idle", 3},
	{"noop", 5},
	{"reselect", 3},
}

// stressKeywords are the flags the clients set and clear.
var stressKeywords = []string{`\Flagged`, `\Seen`, `\Answered`, "$k1", "$k2"}

// stressMessage is message n of client c, of about size bytes; its
// subject names all three, so any reader can rebuild it and compare.
func stressMessage(c, n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: stress-c%d@example.org\r\nTo: shared@example.org\r\nSubject: stress c%d n%d s%d\r\nMessage-ID: <c%d.n%d@stress.example>\r\n\r\n", c, c, n, size, c, n)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "c%dn%d line %d of a message of %d bytes\r\n", c, n, i, size)
	}
	return b.Bytes()
}

// checkStressBody rebuilds a message from its subject and compares.
func checkStressBody(b []byte) error {
	i := bytes.Index(b, []byte("\r\nSubject: stress c"))
	if i < 0 {
		return errors.New("no stress subject")
	}
	var c, n, size int
	if _, err := fmt.Sscanf(string(b[i+2:]), "Subject: stress c%d n%d s%d", &c, &n, &size); err != nil {
		return fmt.Errorf("bad stress subject: %v", err)
	}
	if want := stressMessage(c, n, size); !bytes.Equal(b, want) {
		return fmt.Errorf("message c%d n%d: %d bytes differ from the %d appended", c, n, len(b), len(want))
	}
	return nil
}

// stressSizes are the body sizes appended: most small, some above the
// usual inline limit of stores (64 KiB).
var stressSizes = []int{600, 1500, 4000, 20000, 70000}

// Stress runs the stress scenario against cfg's server.
func Stress(ctx context.Context, cfg Config, opts StressOptions) (StressReport, error) {
	cfg = cfg.withDefaults()
	if opts.Clients <= 0 {
		opts.Clients = 10
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
		if opts.Ops > 0 {
			opts.Duration = 10 * time.Minute
		}
	}
	if opts.Mailbox == "" {
		opts.Mailbox = "stress"
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	archive := opts.Mailbox + "-archive"
	setup, err := cfg.connect(ctx)
	if err != nil {
		return StressReport{}, err
	}
	// Both mailboxes start empty, so that the messages of earlier runs
	// (same subjects) cannot confuse this one.
	for _, mb := range []string{opts.Mailbox, archive} {
		if _, err := setup.Exec("CREATE "+quote(mb), nil); err != nil {
			var se *StatusError
			if !errors.As(err, &se) || se.Reply.Status != "NO" {
				setup.Close()
				return StressReport{}, err
			}
		}
		for _, cmd := range []string{"SELECT " + quote(mb), `UID STORE 1:* +FLAGS.SILENT (\Deleted)`, "EXPUNGE", "UNSELECT"} {
			if _, err := setup.Exec(cmd, nil); err != nil {
				setup.Close()
				return StressReport{}, fmt.Errorf("emptying %s: %w", mb, err)
			}
		}
	}
	var seed []byte
	for i := range 20 {
		seed = stressMessage(0, i, stressSizes[i%len(stressSizes)])
		if _, err := setup.Append(opts.Mailbox, [][]byte{seed}, nil); err != nil {
			setup.Close()
			return StressReport{}, err
		}
	}
	setup.Close()

	rep := StressReport{Clients: opts.Clients, ByCommand: map[string]int64{}}
	var (
		mu         sync.Mutex
		wg         sync.WaitGroup
		violations atomic.Int64
		errs       atomic.Int64
		firstOnce  sync.Once
	)
	report := func(kind string, client int, what string, context []string) {
		if kind == "violation" {
			violations.Add(1)
		} else {
			errs.Add(1)
		}
		firstOnce.Do(func() { rep.First = fmt.Sprintf("client %d: %s", client, what) })
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(opts.Out, "%s: client %d: %s\n", kind, client, what)
		for _, l := range context {
			fmt.Fprintf(opts.Out, "    %s\n", l)
		}
	}
	// Log in one after the other, untimed: logins are not what is measured.
	clients := make([]*stressClient, opts.Clients)
	for i := range clients {
		sc := &stressClient{
			id: i + 1, cfg: cfg, mailbox: opts.Mailbox, archive: archive,
			rng: rand.New(rand.NewPCG(opts.Seed, uint64(i))), m: newModel(i%2 == 0),
			counts: map[string]int64{}, report: report,
		}
		c, err := cfg.connect(ctx)
		if err != nil {
			for _, sc := range clients[:i] {
				sc.c.Close()
			}
			return StressReport{}, fmt.Errorf("stress: client %d: %w", i+1, err)
		}
		sc.c = c
		clients[i] = sc
	}
	start := time.Now()
	deadline := start.Add(opts.Duration)
	for _, sc := range clients {
		wg.Go(func() {
			sc.run(ctx, deadline, opts.Ops)
			mu.Lock()
			for k, v := range sc.counts {
				rep.ByCommand[k] += v
				rep.Commands += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.Violations, rep.Errors = violations.Load(), errs.Load()
	return rep, ctx.Err()
}

// runStress is the "stress" scenario of tidemark load.
func runStress(ctx context.Context, cfg Config, _ int) ([]Result, error) {
	out := io.Discard
	if cfg.StressOut != nil {
		out = cfg.StressOut
	}
	rep, err := Stress(ctx, cfg, StressOptions{Clients: cfg.Concurrency, Duration: cfg.Duration, Seed: cfg.Seed, Out: out})
	if err != nil {
		return nil, err
	}
	r := Result{Scenario: "stress", Reps: int(rep.Commands), Rate: rep.Rate(), RateUnit: "cmd/s",
		Note: fmt.Sprintf("%d clients on one mailbox for %s, seed %d: %d commands, %d violations, %d errors",
			rep.Clients, rep.Elapsed.Round(time.Millisecond), cfg.Seed, rep.Commands, rep.Violations, rep.Errors)}
	if rep.Violations > 0 || rep.Errors > 0 {
		return []Result{r}, fmt.Errorf("stress: %d violations, %d errors; first: %s", rep.Violations, rep.Errors, rep.First)
	}
	return []Result{r}, nil
}

// stressClient is one session of the stress run.
type stressClient struct {
	id               int
	cfg              Config
	mailbox, archive string
	rng              *rand.Rand
	c                *Client
	m                *model
	counts           map[string]int64
	report           func(kind string, client int, what string, context []string)

	lines   []string // the last protocol lines, for context
	n       int      // messages appended so far
	own     map[uint32][]byte
	maxCopy uint32 // highest UID COPYUID gave in the archive
	cache   *cache // kept across a reselect
}

const contextLines = 24

func (sc *stressClient) note(dir string, b []byte) {
	l := string(trimCRLF(b))
	if len(l) > 160 {
		l = l[:160] + fmt.Sprintf("... (%d bytes)", len(l))
	}
	if len(sc.lines) == contextLines {
		sc.lines = slices.Delete(sc.lines, 0, 1)
	}
	sc.lines = append(sc.lines, dir+" "+l)
}

func (sc *stressClient) violation(format string, a ...any) {
	sc.report("violation", sc.id, fmt.Sprintf(format, a...), slices.Clone(sc.lines))
}

// flush reports what the model found.
func (sc *stressClient) flush() {
	for _, v := range sc.m.take() {
		sc.violation("%s", v)
	}
}

// exec runs one command through the model: every untagged response is
// noted and applied; a NO or BAD is an error unless allowed.
func (sc *stressClient) exec(kind, cmd string, noExpunge bool) (Reply, error) {
	sc.m.begin(noExpunge)
	sc.note(">", []byte(cmd))
	rep, err := sc.c.Exec(cmd, sc.untagged)
	return sc.finish(kind, rep, err)
}

func (sc *stressClient) untagged(resp []byte) {
	sc.note("<", resp)
	sc.m.untagged(resp)
}

func (sc *stressClient) finish(kind string, rep Reply, err error) (Reply, error) {
	if err == nil || rep.Status != "" {
		sc.note("<", []byte(rep.Status+" "+rep.Text))
	}
	if rep.Status == "OK" {
		sc.m.onCode(respCode(rep.Text))
	}
	sc.flush()
	if err != nil {
		sc.report("error", sc.id, fmt.Sprintf("%s: %v", kind, err), slices.Clone(sc.lines))
		return rep, err
	}
	sc.counts[kind]++
	return rep, nil
}

func (sc *stressClient) run(ctx context.Context, deadline time.Time, ops int) {
	c := sc.c
	defer c.Close()
	c.Timeout = time.Minute
	sc.own = map[uint32][]byte{}
	enable := "ENABLE CONDSTORE"
	if sc.m.qresync {
		enable = "ENABLE QRESYNC"
	}
	if _, err := sc.exec("enable", enable, false); err != nil {
		return
	}
	if err := sc.selectPlain(); err != nil {
		return
	}
	total := 0
	for _, w := range stressWeights {
		total += w.weight
	}
	for n := 0; (ops <= 0 || n < ops) && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
		pick := sc.rng.IntN(total)
		var op string
		for _, w := range stressWeights {
			if pick < w.weight {
				op = w.name
				break
			}
			pick -= w.weight
		}
		if err := sc.do(op); err != nil {
			var se *StatusError
			if !errors.As(err, &se) {
				return // the connection is gone
			}
		}
	}
}

func (sc *stressClient) do(op string) error {
	switch op {
	case "append":
		return sc.opAppend()
	case "fetch-flags":
		return sc.opFetchFlags()
	case "fetch-envelope":
		return sc.opFetchEnvelope()
	case "fetch-body":
		return sc.opFetchBody()
	case "store":
		return sc.opStore(false)
	case "store-unchangedsince":
		return sc.opStore(true)
	case "search":
		return sc.opSearch()
	case "expunge":
		return sc.opExpunge()
	case "copy":
		return sc.opCopy(false)
	case "move":
		return sc.opCopy(true)
	case "idle":
		return sc.opIdle()
	case "noop":
		_, err := sc.exec("noop", "NOOP", false)
		return err
	case "reselect":
		return sc.opReselect()
	}
	return nil
}

// randomUID picks a UID the client knows, 0 if none.
func (sc *stressClient) randomUID() uint32 {
	var known []uint32
	for _, u := range sc.m.uids {
		if u != 0 {
			known = append(known, u)
		}
	}
	if len(known) == 0 {
		return 0
	}
	return known[sc.rng.IntN(len(known))]
}

// learnUIDs fetches the UIDs of messages the client was told of but does
// not know yet (new arrivals), as a client does after EXISTS.
func (sc *stressClient) learnUIDs() error {
	seqs := sc.m.unknownSeqs()
	if len(seqs) == 0 {
		return nil
	}
	_, err := sc.exec("fetch-flags", "FETCH "+formatUIDs(seqs)+" (UID FLAGS MODSEQ)", true)
	return err
}

// selectPlain selects the mailbox afresh and learns every UID.
func (sc *stressClient) selectPlain() error {
	sc.m.begin(false)
	sc.m.startSelect()
	cmd := "SELECT " + quote(sc.mailbox)
	sc.note(">", []byte(cmd))
	rep, err := sc.c.Exec(cmd, sc.untagged)
	if err == nil {
		sc.m.onCode(respCode(rep.Text))
		sc.m.finishSelect()
	}
	if _, err := sc.finish("select", rep, err); err != nil {
		return err
	}
	if len(sc.m.uids) == 0 {
		return nil
	}
	// Every message: the map, flags and MODSEQs.
	_, err = sc.exec("fetch-flags", "FETCH 1:* (UID FLAGS MODSEQ)", true)
	return err
}

func (sc *stressClient) opAppend() error {
	sc.n++
	size := stressSizes[sc.rng.IntN(len(stressSizes))]
	msg := stressMessage(sc.id, sc.n, size)
	sc.m.begin(false)
	sc.note(">", []byte(fmt.Sprintf("APPEND %s {%d}", quote(sc.mailbox), len(msg))))
	before := sc.m.maxUID
	rep, err := sc.c.Append(sc.mailbox, [][]byte{msg}, sc.untagged)
	if err == nil {
		// RFC 4315 3: APPENDUID uidvalidity uid, above every UID seen.
		f := strings.Fields(respCode(rep.Text))
		if len(f) != 3 || !strings.EqualFold(f[0], "APPENDUID") {
			sc.m.violate("APPEND without APPENDUID: %q", rep.Text)
		} else {
			v, _ := strconv.ParseUint(f[1], 10, 32)
			u, _ := strconv.ParseUint(f[2], 10, 32)
			if uint32(v) != sc.m.uidValidity {
				sc.m.violate("APPENDUID UIDVALIDITY %d, the mailbox has %d", v, sc.m.uidValidity)
			}
			if uint32(u) <= before {
				sc.m.violate("APPENDUID %d is not above UID %d, already seen", u, before)
			}
			sc.m.maxUID = max(sc.m.maxUID, uint32(u))
			sc.own[uint32(u)] = msg
		}
	}
	_, err = sc.finish("append", rep, err)
	return err
}

func (sc *stressClient) opFetchFlags() error {
	n := len(sc.m.uids)
	if n == 0 {
		_, err := sc.exec("fetch-flags", "UID FETCH 1:* (UID FLAGS MODSEQ)", false)
		return err
	}
	if sc.rng.IntN(2) == 0 {
		_, err := sc.exec("fetch-flags", "FETCH 1:* (UID FLAGS MODSEQ)", true)
		return err
	}
	_, err := sc.exec("fetch-flags", fmt.Sprintf("UID FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE %d)", sc.m.highest/2), false)
	return err
}

func (sc *stressClient) opFetchEnvelope() error {
	u := sc.randomUID()
	if u == 0 {
		return sc.learnUIDs()
	}
	_, err := sc.exec("fetch-envelope", fmt.Sprintf("UID FETCH %d (UID ENVELOPE RFC822.SIZE)", u), false)
	if err != nil {
		return err
	}
	if fd, ok := sc.m.fetched[u]; ok {
		if !fd.hasEnvSub || !strings.HasPrefix(fd.subject, "stress c") {
			sc.violation("UID %d: ENVELOPE subject %q is not a stress subject", u, fd.subject)
		} else if own, mine := sc.own[u]; mine {
			if !bytes.Contains(own, []byte("Subject: "+fd.subject+"\r\n")) {
				sc.violation("UID %d: ENVELOPE subject %q is not the one appended", u, fd.subject)
			}
			if fd.size != int64(len(own)) {
				sc.violation("UID %d: RFC822.SIZE %d, appended %d bytes", u, fd.size, len(own))
			}
		}
	}
	return nil
}

func (sc *stressClient) opFetchBody() error {
	n := len(sc.m.uids)
	if n == 0 {
		return nil
	}
	var cmd string
	seq := sc.rng.IntN(n) + 1
	item := "BODY.PEEK[]"
	if sc.rng.IntN(3) == 0 {
		item = "BINARY.PEEK[]"
	}
	if sc.rng.IntN(2) == 0 {
		cmd = fmt.Sprintf("FETCH %d (UID RFC822.SIZE %s)", seq, item)
	} else if u := sc.m.uids[seq-1]; u != 0 {
		cmd = fmt.Sprintf("UID FETCH %d (UID RFC822.SIZE %s)", u, item)
	} else {
		return sc.learnUIDs()
	}
	_, err := sc.exec("fetch-body", cmd, !strings.HasPrefix(cmd, "UID"))
	if err != nil {
		return err
	}
	for u, fd := range sc.m.fetched {
		if !fd.hasBody {
			continue
		}
		if fd.hasSize && fd.size != int64(len(fd.body)) {
			sc.violation("UID %d: RFC822.SIZE %d, body of %d bytes", u, fd.size, len(fd.body))
		}
		if own, mine := sc.own[u]; mine && !bytes.Equal(own, fd.body) {
			sc.violation("UID %d: body is not the %d bytes appended", u, len(own))
		} else if err := checkStressBody(fd.body); err != nil {
			sc.violation("UID %d: %v", u, err)
		}
	}
	return nil
}

func (sc *stressClient) opStore(unchangedSince bool) error {
	u := sc.randomUID()
	if u == 0 {
		return sc.learnUIDs()
	}
	flag := stressKeywords[sc.rng.IntN(len(stressKeywords))]
	add := sc.rng.IntN(2) == 0
	op := "-FLAGS"
	if add {
		op = "+FLAGS"
	}
	silent := !unchangedSince && sc.rng.IntN(4) == 0
	if silent {
		op += ".SILENT"
	}
	var cmd string
	uidCmd := true
	switch {
	case unchangedSince:
		ms := sc.m.modseq[u]
		if ms == 0 {
			return nil
		}
		cmd = fmt.Sprintf("UID STORE %d (UNCHANGEDSINCE %d) %s (%s)", u, ms, op, flag)
	case sc.rng.IntN(3) == 0:
		seq := slices.Index(sc.m.uids, u) + 1
		cmd = fmt.Sprintf("STORE %d %s (%s)", seq, op, flag)
		uidCmd = false
	default:
		cmd = fmt.Sprintf("UID STORE %d %s (%s)", u, op, flag)
	}
	rep, err := sc.exec("store", cmd, !uidCmd)
	if err != nil {
		return err
	}
	modified := false
	if f := strings.Fields(respCode(rep.Text)); len(f) == 2 && strings.EqualFold(f[0], "MODIFIED") {
		if set, err := parseUIDSet(f[1]); err == nil && slices.Contains(set, u) {
			modified = true
		}
	}
	// RFC 9051 6.4.6: a FETCH answering the STORE shows its result (other
	// sessions' changes may be announced before and after it); RFC 7162
	// 3.1.3: with CONDSTORE it carries MODSEQ.
	if _, ok := sc.m.fetched[u]; ok && !modified && !silent {
		shown := false
		var all []string
		for _, fd := range sc.m.allFetch {
			if fd.uid != u {
				continue
			}
			if fd.modseq == 0 {
				sc.violation("UID %d: a FETCH during STORE has no MODSEQ though CONDSTORE is on", u)
			}
			has := slices.ContainsFunc(fd.flags, func(f string) bool { return strings.EqualFold(f, flag) })
			shown = shown || fd.hasFlags && has == add
			all = append(all, "("+strings.Join(fd.flags, " ")+")")
		}
		if !shown && sc.m.hasUID(u) {
			// Only another session's change was shown: the STORE found
			// nothing to change, so the message must have been expunged
			// (and the next sync point must say so).
			if !sc.pendingGone(u) {
				sc.violation("UID %d: after %s (%s), FETCH shows FLAGS %s", u, op, flag, strings.Join(all, ", "))
			}
		}
	} else if _, ok := sc.m.fetched[u]; !ok && !silent && !modified && sc.m.hasUID(u) && !sc.m.gone[u] {
		// Not announced gone, and no FETCH: only a message expunged by
		// another session and not yet announced may be skipped; it must
		// be announced by the next sync point.
		if !sc.pendingGone(u) {
			sc.violation("UID %d: STORE answered no FETCH for it, yet it was not expunged", u)
		}
	}
	return nil
}

// pendingGone checks that UID u, skipped by a command as if expunged, is
// announced as expunged by the next NOOP; it reports whether it was (or
// the NOOP failed, which is reported as an error).
func (sc *stressClient) pendingGone(u uint32) bool {
	if _, err := sc.exec("noop", "NOOP", false); err != nil {
		return true
	}
	return !sc.m.hasUID(u)
}

func (sc *stressClient) opSearch() error {
	u := sc.randomUID()
	switch sc.rng.IntN(3) {
	case 0:
		before := maps(sc.m.gone)
		if _, err := sc.exec("search", "UID SEARCH FLAGGED", false); err != nil {
			return err
		}
		for _, x := range sc.m.searched {
			if before[x] {
				sc.violation("UID SEARCH returns UID %d, announced as expunged", x)
			}
		}
	case 1:
		if u == 0 || sc.own[u] == nil {
			_, err := sc.exec("search", "SEARCH UNSEEN", true)
			if err == nil {
				for _, s := range sc.m.searched {
					if s < 1 || s > uint32(len(sc.m.uids)) {
						sc.violation("SEARCH returns message %d of %d", s, len(sc.m.uids))
					}
				}
			}
			return err
		}
		// The subject of a message of ours is unique in the mailbox.
		subject := subjectOf(sc.own[u])
		if _, err := sc.exec("search", "UID SEARCH SUBJECT "+quote(subject), false); err != nil {
			return err
		}
		if len(sc.m.searched) > 1 || len(sc.m.searched) == 1 && sc.m.searched[0] != u {
			sc.violation("UID SEARCH SUBJECT %q gives %v, want UID %d", subject, sc.m.searched, u)
		}
	default:
		if u == 0 || sc.own[u] == nil {
			return nil
		}
		// Its body text too: SEARCH BODY reads the bytes.
		var c, n int
		fmt.Sscanf(subjectOf(sc.own[u]), "stress c%d n%d", &c, &n)
		seq := slices.Index(sc.m.uids, u) + 1
		if _, err := sc.exec("search", fmt.Sprintf("SEARCH BODY \"c%dn%d line\"", c, n), true); err != nil {
			return err
		}
		if len(sc.m.searched) > 1 || len(sc.m.searched) == 1 && sc.m.searched[0] != uint32(seq) {
			sc.violation("SEARCH BODY of UID %d (message %d) gives %v", u, seq, sc.m.searched)
		}
	}
	return nil
}

func maps(m map[uint32]bool) map[uint32]bool {
	out := make(map[uint32]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func subjectOf(msg []byte) string {
	i := bytes.Index(msg, []byte("Subject: "))
	j := bytes.Index(msg[i:], []byte("\r\n"))
	return string(msg[i+len("Subject: ") : i+j])
}

func (sc *stressClient) opExpunge() error {
	// Keep the mailbox from growing without bound: expunge more when big.
	k := 1
	if len(sc.m.uids) > 60 {
		k = 4
	}
	var set []uint32
	for range k {
		if u := sc.randomUID(); u != 0 && !slices.Contains(set, u) {
			set = append(set, u)
		}
	}
	if len(set) == 0 {
		return sc.learnUIDs()
	}
	slices.Sort(set)
	if _, err := sc.exec("store", "UID STORE "+formatUIDs(set)+` +FLAGS.SILENT (\Deleted)`, false); err != nil {
		return err
	}
	if sc.rng.IntN(3) == 0 {
		_, err := sc.exec("expunge", "EXPUNGE", false)
		if err != nil {
			return err
		}
	} else if _, err := sc.exec("expunge", "UID EXPUNGE "+formatUIDs(set), false); err != nil {
		return err
	}
	// Whoever expunged them, they are announced by the end of EXPUNGE.
	for _, u := range set {
		if sc.m.hasUID(u) {
			sc.violation("UID %d, marked \\Deleted and expunged, is still there after EXPUNGE", u)
		}
	}
	return nil
}

func (sc *stressClient) opCopy(move bool) error {
	u := sc.randomUID()
	if u == 0 {
		return sc.learnUIDs()
	}
	verb := "COPY"
	if move {
		verb = "MOVE"
	}
	var copyuid string
	sc.m.begin(false)
	cmd := fmt.Sprintf("UID %s %d %s", verb, u, quote(sc.archive))
	sc.note(">", []byte(cmd))
	rep, err := sc.c.Exec(cmd, func(resp []byte) {
		if code := respCode(strings.TrimPrefix(string(trimCRLF(resp)), "* OK ")); strings.HasPrefix(strings.ToUpper(code), "COPYUID ") {
			copyuid = code
		}
		sc.untagged(resp)
	})
	if err == nil && !move {
		copyuid = respCode(rep.Text)
	}
	if _, err := sc.finish(strings.ToLower(verb), rep, err); err != nil {
		return err
	}
	if f := strings.Fields(copyuid); len(f) == 4 {
		src, err1 := parseUIDSet(f[2])
		dst, err2 := parseUIDSet(f[3])
		switch {
		case err1 != nil || err2 != nil || len(src) != len(dst):
			sc.violation("bad COPYUID %q", copyuid)
		case len(src) != 1 || src[0] != u:
			sc.violation("%s of UID %d: COPYUID names %v", verb, u, src)
		case dst[0] <= sc.maxCopy:
			sc.violation("%s: COPYUID gives UID %d in %s, not above %d given before", verb, dst[0], sc.archive, sc.maxCopy)
		default:
			sc.maxCopy = dst[len(dst)-1]
		}
	} else if copyuid != "" {
		sc.violation("bad COPYUID %q", copyuid)
	}
	if move && sc.m.hasUID(u) {
		sc.violation("UID %d still there after MOVE", u)
	}
	return nil
}

// opIdle idles for a moment while the others work (RFC 2177).
func (sc *stressClient) opIdle() error {
	sc.m.begin(false)
	sc.note(">", []byte("IDLE"))
	rep, err := sc.c.Idle(time.Duration(20+sc.rng.IntN(80))*time.Millisecond, sc.untagged)
	_, err = sc.finish("idle", rep, err)
	return err
}

// opReselect leaves the mailbox and comes back: a QRESYNC client from its
// cache (RFC 7162 3.2.5), whose result must be exactly what a full FETCH
// then returns; a CONDSTORE client with a plain SELECT.
func (sc *stressClient) opReselect() error {
	if err := sc.learnUIDs(); err != nil {
		return err
	}
	sc.m.leaving()
	if !sc.m.qresync {
		if _, err := sc.exec("unselect", "UNSELECT", false); err != nil {
			return err
		}
		return sc.selectPlain()
	}
	c := sc.m.snapshot()
	if _, err := sc.exec("unselect", "UNSELECT", false); err != nil {
		return err
	}
	time.Sleep(time.Duration(sc.rng.IntN(30)) * time.Millisecond) // others work meanwhile
	sc.m.begin(false)
	sc.m.startSelect()
	params := fmt.Sprintf("%d %d", c.uidValidity, c.modseq)
	if len(c.uids) > 0 {
		params += " " + formatUIDs(c.uids)
	}
	cmd := fmt.Sprintf("SELECT %s (QRESYNC (%s))", quote(sc.mailbox), params)
	sc.note(">", []byte(cmd))
	rep, err := sc.c.Exec(cmd, sc.untagged)
	if err == nil {
		sc.m.onCode(respCode(rep.Text))
		sc.m.finishQResync(c)
	}
	if _, err := sc.finish("select-qresync", rep, err); err != nil {
		return err
	}
	// The resynchronized cache against the whole truth. A message changed
	// or expunged after the SELECT is announced within this command.
	want := slices.Clone(sc.m.uids)
	if _, err := sc.exec("fetch-flags", "UID FETCH 1:* (UID FLAGS MODSEQ)", false); err != nil {
		return err
	}
	for _, u := range want {
		if _, ok := sc.m.fetched[u]; u != 0 && !ok && !slices.Contains(sc.m.vanished, u) {
			sc.violation("after QRESYNC, UID %d is in the cache but neither fetched nor expunged", u)
		}
	}
	return nil
}

// Idle runs IDLE for d, passing each untagged response to onUntagged,
// then DONE, and returns the tagged completion (RFC 2177).
func (c *Client) Idle(d time.Duration, onUntagged func([]byte)) (Reply, error) {
	tag := c.nextTag()
	c.conn.SetDeadline(time.Now().Add(c.Timeout))
	c.w.WriteString(tag + " IDLE\r\n")
	if err := c.w.Flush(); err != nil {
		return Reply{}, fmt.Errorf("loadtest: write IDLE: %w", err)
	}
	var resp []byte
	for {
		var err error
		if resp, err = c.readResponse(); err != nil {
			return Reply{}, fmt.Errorf("loadtest: IDLE: %w", err)
		}
		if resp[0] != '*' {
			break
		}
		// Untagged responses may come before the continuation request.
		if onUntagged != nil {
			onUntagged(resp)
		}
	}
	if resp[0] != '+' {
		if st, text, ok := parseTagged(resp, tag); ok {
			return c.finish("IDLE", Reply{st, text, int64(len(resp))})
		}
		return Reply{}, fmt.Errorf("loadtest: IDLE: expected continuation, got %q", trimCRLF(resp))
	}
	// DONE goes out from a timer while this goroutine keeps reading; the
	// writer is not otherwise used until the timer's write is over.
	sent := make(chan struct{})
	timer := time.AfterFunc(d, func() {
		defer close(sent)
		c.w.WriteString("DONE\r\n")
		c.w.Flush()
	})
	rep, err := c.await(tag, "IDLE", onUntagged)
	if !timer.Stop() {
		<-sent
	}
	return rep, err
}
