package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// The kill test runs the built binary under IMAP load from several clients
// (APPEND, UID STORE, UID EXPUNGE, UID MOVE into a shared mailbox), kills
// the whole process with SIGKILL at a random moment, runs `tidemark check`
// on the data directory, restarts the server and compares what an
// independent client (go-imap v2) reads with what the load clients were
// told:
//
//   - every command that got its tagged OK is reflected: an acknowledged
//     APPEND's message is there under its APPENDUID with the flags
//     acknowledged since, an acknowledged expunge is gone, an acknowledged
//     MOVE's message is in the target under its COPYUID and not in the
//     source;
//
//   - a command in flight at the kill may have happened or not, but as a
//     whole: a moved message is in exactly one place;
//
//   - no UID ever names two messages, and UIDNEXT stays above every UID
//     ever seen;
//
//   - HIGHESTMODSEQ never goes below a modseq a client was shown.
//
//     TIDEMARK_KILL_ROUNDS=N  kill/restart rounds (default 3; 20 or more for
//     the long version)
//     TIDEMARK_KILL_CLIENTS=N load clients at once (default 4)
//     TIDEMARK_KILL_SEED=N    seed of the clients' choices and of the kill
//     delays (default 1, logged); when the kill lands
//     still depends on the machine's timing.
const (
	killRoundsEnv = "TIDEMARK_KILL_ROUNDS"
	killSeedEnv   = "TIDEMARK_KILL_SEED"
	killArchive   = "Archive"
)

// killClients is the number of load clients, all on the same user, so
// that their writes share commits (group commit): TIDEMARK_KILL_CLIENTS,
// default 4.
var killClients = envIntDefault("TIDEMARK_KILL_CLIENTS", 4)

func envIntDefault(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// killMsg is what the model knows of one message.
type killMsg struct {
	op      string          // the X-Op header: unique per APPEND
	flags   map[string]bool // acknowledged flags
	certain bool            // false once a command touching it went unanswered
}

// killModel is what the clients were told, per mailbox, plus every
// (mailbox, UID) ever seen and the highest modseq shown per mailbox.
type killModel struct {
	mu      sync.Mutex
	boxes   map[string]map[uint32]*killMsg
	seen    map[string]map[uint32]string // mailbox → UID → op, forever
	modseq  map[string]uint64
	pending map[string]bool // ops of APPENDs and MOVEs left unanswered
	acked   int             // acknowledged commands checked so far
}

func (m *killModel) sawUID(t *testing.T, box string, uid uint32, op string) {
	if m.seen[box] == nil {
		m.seen[box] = map[uint32]string{}
	}
	if prev, ok := m.seen[box][uid]; ok && prev != op {
		t.Errorf("%s UID %d reused: was %s, now %s", box, uid, prev, op)
	}
	m.seen[box][uid] = op
}

func (m *killModel) sawModSeq(box string, v uint64) {
	if v > m.modseq[box] {
		m.modseq[box] = v
	}
}

var (
	reAppendUID = regexp.MustCompile(`\[APPENDUID \d+ (\d+)\]`)
	reCopyUID   = regexp.MustCompile(`\[COPYUID \d+ (\d+) (\d+)\]`)
	reModSeq    = regexp.MustCompile(`MODSEQ \((\d+)\)|\[HIGHESTMODSEQ (\d+)\]`)
)

// lineClient speaks literal IMAP lines.
type lineClient struct {
	conn net.Conn
	r    *bufio.Reader
	n    int
}

// do sends one command (already formatted, without CRLF) and returns the
// untagged lines and the tagged one. An error means the connection died.
func (c *lineClient) do(cmd string) ([]string, string, error) {
	c.n++
	tag := "k" + strconv.Itoa(c.n)
	c.conn.SetDeadline(time.Now().Add(hangDeadline))
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", tag, cmd); err != nil {
		return nil, "", err
	}
	var untagged []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return untagged, "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l[len(tag)+1:], nil
		}
		untagged = append(untagged, l)
	}
}

// killLoad is one load client's loop, until the connection dies. It tells
// acked when its first command is acknowledged.
func killLoad(t *testing.T, addr string, m *killModel, box string, rng *rand.Rand, round int, firstAck func()) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return // killed before we connected
	}
	defer conn.Close()
	c := &lineClient{conn: conn, r: bufio.NewReader(conn)}
	if _, err := c.r.ReadString('\n'); err != nil {
		return
	}
	for _, cmd := range []string{"LOGIN joe secret-pass", "ENABLE QRESYNC", "SELECT " + box} {
		un, tagged, err := c.do(cmd)
		if err != nil {
			return
		}
		if !strings.HasPrefix(tagged, "OK") {
			t.Errorf("%s: %s: %s", box, cmd, tagged)
			return
		}
		m.mu.Lock()
		for _, l := range un {
			noteModSeq(m, box, l)
		}
		m.mu.Unlock()
	}
	flags := []string{`\Flagged`, `\Seen`, `\Answered`, "$k1", "$k2"}
	// fail reports a refused command; the kill never causes one.
	fail := func(cmd, tagged string) {
		t.Errorf("%s: %q: %s", box, cmd, tagged)
	}
	for n := 0; ; n++ {
		m.mu.Lock()
		var uids []uint32
		for u, msg := range m.boxes[box] {
			if msg.certain {
				uids = append(uids, u)
			}
		}
		m.mu.Unlock()
		slices.Sort(uids)
		r := rng.IntN(100)
		if len(uids) == 0 || r < 40 {
			op := fmt.Sprintf("r%d-%s-%d", round, box, n)
			body := fmt.Sprintf("From: load@example.org\r\nSubject: %s\r\nX-Op: %s\r\n\r\n%s\r\n", op, op, strings.Repeat("z", rng.IntN(6000)))
			m.mu.Lock()
			m.pending[op] = true
			m.mu.Unlock()
			cmd := fmt.Sprintf("APPEND %s {%d+}\r\n%s", box, len(body), body)
			_, tagged, err := c.do(cmd)
			if err != nil {
				return
			}
			mm := reAppendUID.FindStringSubmatch(tagged)
			if !strings.HasPrefix(tagged, "OK") || mm == nil {
				fail("APPEND", tagged)
				return
			}
			uid, _ := strconv.ParseUint(mm[1], 10, 32)
			m.mu.Lock()
			delete(m.pending, op)
			m.sawUID(t, box, uint32(uid), op)
			m.boxes[box][uint32(uid)] = &killMsg{op: op, flags: map[string]bool{}, certain: true}
			m.acked++
			m.mu.Unlock()
			firstAck()
			continue
		}
		uid := uids[rng.IntN(len(uids))]
		m.mu.Lock()
		msg := m.boxes[box][uid]
		msg.certain = false // until answered
		m.mu.Unlock()
		switch {
		case r < 70: // a flag on or off
			f := flags[rng.IntN(len(flags))]
			sign := "+"
			if msg.flags[f] && rng.IntN(2) == 0 {
				sign = "-"
			}
			cmd := fmt.Sprintf("UID STORE %d %sFLAGS (%s)", uid, sign, f)
			un, tagged, err := c.do(cmd)
			if err != nil {
				return
			}
			if !strings.HasPrefix(tagged, "OK") {
				fail(cmd, tagged)
				return
			}
			m.mu.Lock()
			msg.flags[f] = sign == "+"
			msg.certain = true
			for _, l := range append(un, tagged) {
				noteModSeq(m, box, l)
			}
			m.acked++
			m.mu.Unlock()
		case r < 85: // expunge: \Deleted, then UID EXPUNGE of that UID only
			cmd := fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, uid)
			un, tagged, err := c.do(cmd)
			if err != nil {
				return
			}
			if !strings.HasPrefix(tagged, "OK") {
				fail(cmd, tagged)
				return
			}
			m.mu.Lock()
			msg.flags[`\Deleted`] = true
			m.acked++
			for _, l := range append(un, tagged) {
				noteModSeq(m, box, l)
			}
			m.mu.Unlock()
			cmd = fmt.Sprintf("UID EXPUNGE %d", uid)
			un, tagged, err = c.do(cmd)
			if err != nil {
				return
			}
			if !strings.HasPrefix(tagged, "OK") {
				fail(cmd, tagged)
				return
			}
			m.mu.Lock()
			delete(m.boxes[box], uid)
			m.acked++
			for _, l := range append(un, tagged) {
				noteModSeq(m, box, l)
			}
			m.mu.Unlock()
		default: // move into the shared mailbox
			m.mu.Lock()
			m.pending[msg.op] = true
			m.mu.Unlock()
			cmd := fmt.Sprintf("UID MOVE %d %s", uid, killArchive)
			un, tagged, err := c.do(cmd)
			if err != nil {
				return
			}
			var dst uint64
			for _, l := range un {
				if mm := reCopyUID.FindStringSubmatch(l); mm != nil && mm[1] == strconv.Itoa(int(uid)) {
					dst, _ = strconv.ParseUint(mm[2], 10, 32)
				}
			}
			if !strings.HasPrefix(tagged, "OK") || dst == 0 {
				fail(cmd, tagged+" "+strings.Join(un, " | "))
				return
			}
			m.mu.Lock()
			delete(m.pending, msg.op)
			delete(m.boxes[box], uid)
			m.sawUID(t, killArchive, uint32(dst), msg.op)
			m.boxes[killArchive][uint32(dst)] = &killMsg{op: msg.op, flags: msg.flags, certain: true}
			m.acked++
			for _, l := range append(un, tagged) {
				noteModSeq(m, box, l)
			}
			m.mu.Unlock()
		}
	}
}

// noteModSeq records a MODSEQ or HIGHESTMODSEQ the client was shown in
// box. Called with m.mu held.
func noteModSeq(m *killModel, box, line string) {
	for _, mm := range reModSeq.FindAllStringSubmatch(line, -1) {
		s := mm[1] + mm[2]
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			m.sawModSeq(box, v)
		}
	}
}

// killVerify reads every mailbox with go-imap's client after a restart,
// checks it against the model, and makes what it read the new model.
func killVerify(t *testing.T, addr string, m *killModel) {
	t.Helper()
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("joe", "secret-pass").Wait(); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	where := map[string]string{} // op → mailbox it was found in
	for box, model := range m.boxes {
		st, err := cl.Status(box, &imap.StatusOptions{HighestModSeq: true, UIDNext: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", box, err)
		}
		if st.HighestModSeq < m.modseq[box] {
			t.Errorf("%s: HIGHESTMODSEQ %d after restart, a client was shown %d", box, st.HighestModSeq, m.modseq[box])
		}
		m.modseq[box] = st.HighestModSeq
		for uid := range m.seen[box] {
			if uint32(st.UIDNext) <= uid {
				t.Errorf("%s: UIDNEXT %d after restart, UID %d was seen", box, st.UIDNext, uid)
			}
		}
		got := map[uint32]*killMsg{}
		for _, sm := range fetchStoredOps(t, cl, box) {
			op, uid := sm.op, sm.uid
			fl := map[string]bool{}
			for _, f := range sm.flags {
				// \Recent belongs to the session (RFC 3501 2.3.2), not to what was stored.
				fl[string(f)] = f != `\Recent`
			}
			got[uid] = &killMsg{op: op, flags: fl, certain: true}
			if prev, ok := where[op]; ok {
				t.Errorf("message %s is in %s and in %s", op, prev, box)
			}
			where[op] = box
			want := model[uid]
			switch {
			case want == nil:
				if !m.pending[op] {
					t.Errorf("%s UID %d: message %s that no command in flight could have stored", box, uid, op)
				}
				m.sawUID(t, box, uid, op)
			case want.op != op:
				t.Errorf("%s UID %d holds %s, acknowledged as %s", box, uid, op, want.op)
			case want.certain && !equalFlags(want.flags, fl):
				t.Errorf("%s UID %d (%s): flags %v, acknowledged %v", box, uid, op, keys(fl), keys(want.flags))
			}
		}
		for uid, want := range model {
			if got[uid] == nil && want.certain {
				t.Errorf("%s UID %d (%s): acknowledged, lost after kill -9", box, uid, want.op)
			}
		}
		m.boxes[box] = got
	}
	m.pending = map[string]bool{}
	if err := cl.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func equalFlags(a, b map[string]bool) bool {
	return slices.Equal(keys(a), keys(b))
}

func keys(m map[string]bool) []string {
	var ks []string
	for k, v := range m {
		if v {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// killTestData makes a data directory with the user joe and the load's
// mailboxes.
func killTestData(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	killTestDataIn(t, data)
	return data
}

// killTestDataIn makes that data directory at data.
func killTestDataIn(t *testing.T, data string) {
	t.Helper()
	addAccounts(t, data, "joe")
	ctx := context.Background()
	st, err := sqlitestore.Open(data, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateUser(ctx, "joe"); err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(ctx, "joe")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range killClients {
		if _, err := a.CreateMailbox(ctx, "Load"+strconv.Itoa(i), store.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.CreateMailbox(ctx, killArchive, store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestKillServerUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := envIntDefault(killRoundsEnv, 3)
	seed := envIntDefault(killSeedEnv, 1)
	t.Logf("%d rounds, seed %d (%s, %s)", rounds, seed, killRoundsEnv, killSeedEnv)
	bin := buildTidemark(t)
	data := killTestData(t)
	m := &killModel{boxes: map[string]map[uint32]*killMsg{killArchive: {}}, seen: map[string]map[uint32]string{},
		modseq: map[string]uint64{}, pending: map[string]bool{}}
	for i := range killClients {
		m.boxes["Load"+strconv.Itoa(i)] = map[uint32]*killMsg{}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	start := func() *servedBinary { return startKillServe(t, bin, data) }
	sb := start()
	for round := range rounds {
		delay := time.Duration(20+rng.IntN(500)) * time.Millisecond
		var once sync.Once
		acked := make(chan struct{})
		var wg sync.WaitGroup
		for i := range killClients {
			crng := rand.New(rand.NewPCG(uint64(seed), uint64(round*killClients+i+1)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				killLoad(t, sb.addrs["imap"], m, "Load"+strconv.Itoa(i), crng, round, func() { once.Do(func() { close(acked) }) })
			}()
		}
		select {
		case <-acked:
		case <-time.After(hangDeadline):
			t.Fatal("no command was acknowledged")
		}
		time.Sleep(delay)
		if err := sb.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		sb.cmd.Wait()
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		out, err := exec.Command(bin, "check", "--data", data).CombinedOutput()
		if err != nil {
			t.Fatalf("round %d: tidemark check: %v\n%s", round, err, out)
		}
		sb = start()
		m.mu.Lock()
		before := m.acked
		m.mu.Unlock()
		killVerify(t, sb.addrs["imap"], m)
		t.Logf("round %d: killed %v after the first acknowledgement; %d acknowledged commands so far, all reflected", round, delay, before)
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d kill -9 rounds, %d acknowledged commands checked", rounds, m.acked)
}

// startKillServe starts the binary on data for a kill -9 test, waits until
// it listens and keeps its log pipe drained, so that a test that never
// reads the log cannot stall the server on a full pipe.
func startKillServe(t *testing.T, bin, data string) *servedBinary {
	t.Helper()
	sb := startServe(t, bin, "--data", data, "--imap", "127.0.0.1:0", "--imaps", "", "--log-format", "json")
	sb.waitLog("listening")
	go func() {
		for range sb.logs {
		}
	}()
	return sb
}

// storedOp is what a kill -9 test finds of a message after the restart:
// its UID, the X-Op header naming the command that stored it, its flags.
type storedOp struct {
	uid   uint32
	op    string
	flags []imap.Flag
}

// fetchStoredOps selects box read-only and returns its messages in UID
// order.
func fetchStoredOps(t *testing.T, cl *imapclient.Client, box string) []storedOp {
	t.Helper()
	if _, err := cl.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"X-Op"}, Peek: true}
	msgs, err := cl.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{hdr},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH %s: %v", box, err)
	}
	out := make([]storedOp, len(msgs))
	for i, fm := range msgs {
		op := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(fm.FindBodySection(hdr))), "X-Op:"))
		out[i] = storedOp{uid: uint32(fm.UID), op: op, flags: fm.Flags}
	}
	return out
}
