package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// replicaDir makes a data directory with the login alice/secret-pass and
// a configuration file that listens for peers on repl and pushes to peers.
func replicaDir(t *testing.T, dir, imapAddr, repl, secretFile string, peers ...string) string {
	t.Helper()
	quoted := make([]string, len(peers))
	for i, p := range peers {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	conf, _ := writeNodeConf(t, dir, fmt.Sprintf(`[log]
format = "json"
[imap]
listen = %q
[imaps]
listen = ""
[replication]
listen = %q
peers = [%s]
secret_file = %q
`, imapAddr, repl, strings.Join(quoted, ", "), secretFile), "alice")
	return conf
}

// replicaTest is the start of a test that runs replicating servers: it
// skips under -short, builds the binary, and returns it with a temporary
// root holding the secret file the peers share.
func replicaTest(t *testing.T) (bin, root, secret string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin = buildTidemark(t)
	root = t.TempDir()
	secret = filepath.Join(root, "secret")
	if err := os.WriteFile(secret, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return bin, root, secret
}

// createAlice gives alice a mail store in the embedded store of each data
// directory (replicaDir gives her only a login).
func createAlice(t *testing.T, dataDirs ...string) {
	t.Helper()
	for _, data := range dataDirs {
		st, err := sqlitestore.Open(data, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
}

// appendConf adds text to the end of each configuration file.
func appendConf(t *testing.T, text string, confs ...string) {
	t.Helper()
	for _, conf := range confs {
		f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(f, text)
		f.Close()
	}
}

// startPair serves confA and confB and waits until both listen for IMAP
// and for their peers.
func startPair(t *testing.T, bin, confA, confB string) (a, b *servedBinary) {
	t.Helper()
	a = startServe(t, bin, "--config", confA)
	b = startServe(t, bin, "--config", confB)
	waitListening(a)
	waitListening(b)
	return a, b
}

// waitListening waits until sb listens for IMAP and for its peers.
func waitListening(sb *servedBinary) {
	for sb.addrs["imap"] == "" || sb.addrs["replication"] == "" {
		sb.waitLog("listening")
	}
}

// qresyncScript is what a QRESYNC client sees of INBOX through ca on the
// node that takes the changes: six messages, \Seen on 2, 3 expunged (a
// UID EXPUNGE of it before it is \Deleted does nothing), then, after
// the client has cached UIDVALIDITY and HIGHESTMODSEQ, 1 flagged, 4
// expunged and a seventh appended. It returns the client's resync
// command, the UIDVALIDITY, the HIGHESTMODSEQ after the changes and the
// answer of ca's node to the resync, which the other node must repeat.
func qresyncScript(t *testing.T, ca *imapConn) (resync, uv, now string, fromA []string) {
	t.Helper()
	for i := 1; i <= 6; i++ {
		ca.appendMsg(i)
	}
	ca.run("SELECT INBOX")
	ca.run("STORE 2 +FLAGS (\\Seen)")
	ca.run("UID EXPUNGE 3") // nothing: not \Deleted
	ca.run("STORE 3 +FLAGS (\\Deleted)")
	ca.run("UID EXPUNGE 3")
	sel := ca.run("SELECT INBOX")
	uv = find(t, sel, reUV)
	seen := find(t, sel, reHMS)

	// The client goes away; A changes more.
	ca.run("STORE 1 +FLAGS (\\Flagged)")
	ca.run("STORE 4 +FLAGS (\\Deleted)")
	ca.run("EXPUNGE")
	ca.appendMsg(7)
	now = find(t, ca.run("SELECT INBOX"), reHMS)
	resync = fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s))", uv, seen)
	ca.run("UNSELECT")
	fromA = ca.run(resync)
	return resync, uv, now, fromA
}

// withoutRecent drops what IMAP4rev1's \Recent adds to a SELECT's
// answer: it is each server's own session state (the first session of a
// server to see a message claims it), not replicated, so a replica's
// first session sees as recent what the other's already claimed.
func withoutRecent(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.HasSuffix(l, " RECENT") {
			continue
		}
		l = strings.ReplaceAll(l, " \\Recent)", ")")
		l = strings.ReplaceAll(l, "(\\Recent ", "(")
		l = strings.ReplaceAll(l, "(\\Recent)", "()")
		l = strings.ReplaceAll(l, " \\Recent ", " ")
		out = append(out, l)
	}
	return out
}

// imapConn is a literal-lines IMAP client.
type imapConn struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	next int
}

func dialIMAP(t *testing.T, addr string) *imapConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	ic.read()
	ic.run("LOGIN alice secret-pass")
	ic.run("ENABLE QRESYNC")
	return ic
}

func (ic *imapConn) read() string {
	ic.t.Helper()
	ic.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := ic.r.ReadString('\n')
	if err != nil {
		ic.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// run sends a command and returns its untagged responses; the tagged one
// must be OK.
func (ic *imapConn) run(cmd string) []string {
	ic.t.Helper()
	ic.next++
	tag := fmt.Sprintf("t%d", ic.next)
	fmt.Fprintf(ic.c, "%s %s\r\n", tag, cmd)
	var out []string
	for {
		l := ic.read()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				ic.t.Fatalf("%s: %s", cmd, l)
			}
			return out
		}
		out = append(out, l)
	}
}

func (ic *imapConn) appendMsg(i int) {
	ic.t.Helper()
	body := fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n", i, i)
	ic.run(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(body), body))
}

var (
	reHMS = regexp.MustCompile(`HIGHESTMODSEQ (\d+)`)
	reUV  = regexp.MustCompile(`UIDVALIDITY (\d+)`)
)

func find(t *testing.T, lines []string, re *regexp.Regexp) string {
	t.Helper()
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %v in %q", re, lines)
	return ""
}

// TestFailoverQresync runs two servers replicating continuously. A QRESYNC
// client syncs against A; A changes more and replicates to B; the client
// reconnects to B with its cache and gets exactly what A would have told
// it, and nothing when nothing changed. Then `tidemark sync` brings a
// third, stopped store to the same state in one run.
func TestFailoverQresync(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret, replB)
	// alice's mail exists on A only; B gets it by replication.
	createAlice(t, filepath.Join(root, "a", "data"))
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret, replA)
	a, b := startPair(t, bin, confA, confB)

	ca := dialIMAP(t, imapA)
	resync, uv, now, fromA := qresyncScript(t, ca)

	// B catches up by itself (continuous push).
	cb := dialIMAP(t, imapB)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := cb.run("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
		if strings.Contains(st[0], "HIGHESTMODSEQ "+now+" ") || strings.Contains(st[0], "HIGHESTMODSEQ "+now+")") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never reached HIGHESTMODSEQ %s: %q\n%s", now, st,
				replicaDiag(now, map[string]*imapConn{"A": ca, "B": cb}, map[string]*servedBinary{"A": a, "B": b}))
		}
		time.Sleep(50 * time.Millisecond)
	}
	fromB := cb.run(resync)
	if !slices.Equal(withoutRecent(fromA), withoutRecent(fromB)) {
		t.Fatalf("QRESYNC from A:\n%s\nfrom B:\n%s\n%s", strings.Join(fromA, "\n"), strings.Join(fromB, "\n"),
			replicaDiag(now, map[string]*imapConn{"A": ca, "B": cb}, map[string]*servedBinary{"A": a, "B": b}))
	}
	// Exactly the changes since: UID 5 vanished (3 went before), 1
	// flagged, 7 new.
	joined := strings.Join(withoutRecent(fromB), "\n")
	for _, want := range []string{"* VANISHED (EARLIER) 5\n", "* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ", "* 5 FETCH (UID 7 FLAGS () MODSEQ"} {
		if !strings.Contains(joined, want) {
			t.Errorf("resync from B lacks %q:\n%s\n%s", want, joined,
				replicaDiag(now, map[string]*imapConn{"A": ca, "B": cb}, map[string]*servedBinary{"A": a, "B": b}))
		}
	}
	if strings.Count(joined, " FETCH ") != 2 {
		t.Errorf("resync from B sent other FETCHes:\n%s", joined)
	}
	// Nothing changed since: nothing is sent.
	quiet := cb.run(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s))", uv, now))
	for _, l := range quiet {
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "FETCH") {
			t.Errorf("resync at %s got %q", now, l)
		}
	}

	// A change on B comes back to A.
	cb.run("STORE 1 -FLAGS (\\Flagged)")
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(strings.Join(ca.run("FETCH 1 (FLAGS)"), ""), "FLAGS ()") {
		if time.Now().After(deadline) {
			t.Fatal("B's flag change never reached A")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A third store, not running, catches up in one `tidemark sync`.
	c := filepath.Join(root, "c")
	out, err := exec.Command(bin, "sync", "--data", c, "--peer", replB, "--secret-file", secret, "--user", "alice").CombinedOutput()
	if err != nil {
		t.Fatalf("tidemark sync: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "synced 1 users") {
		t.Fatalf("sync output: %s", out)
	}
	st, err := sqlitestore.Open(c, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	in, err := acct.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := acct.Snapshot(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	for _, m := range snap.Messages {
		uids = append(uids, m.UID)
	}
	if fmt.Sprint(in.UIDValidity) != uv || !slices.Equal(uids, []store.UID{1, 2, 4, 6, 7}) {
		t.Fatalf("third store: UIDVALIDITY %d, UIDs %v", in.UIDValidity, uids)
	}
	// A wrong secret is refused.
	bad := filepath.Join(root, "bad")
	os.WriteFile(bad, []byte("not the right secret at all"), 0o600)
	out, err = exec.Command(bin, "sync", "--data", c, "--peer", replB, "--secret-file", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "authentication failed") {
		t.Fatalf("wrong secret: %v\n%s", err, out)
	}
}

// replicaDiag describes, for a failed comparison of replicas, what each
// one holds of the selected mailbox: its STATUS, every message with its
// modseq, the VANISHED a client would get from each modseq below now
// (which places every tombstone at its modseq), and the server's
// replication log records read so far.
func replicaDiag(now string, conns map[string]*imapConn, servers map[string]*servedBinary) string {
	var b strings.Builder
	top, _ := strconv.Atoi(now)
	top += 2 // and past it, when a replica went further
	for _, name := range slices.Sorted(maps.Keys(conns)) {
		c := conns[name]
		fmt.Fprintf(&b, "--- %s\n", name)
		c.run("SELECT INBOX")
		for _, l := range c.run("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)") {
			fmt.Fprintf(&b, "%s\n", l)
		}
		for m := 1; m < top; m++ {
			var v []string
			for _, l := range c.run(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", m)) {
				if strings.HasPrefix(l, "* VANISHED") {
					v = append(v, l)
				}
			}
			fmt.Fprintf(&b, "since %d: %q\n", m, v)
		}
		for _, l := range c.run("STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)") {
			fmt.Fprintf(&b, "%s\n", l)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		fmt.Fprintf(&b, "--- %s log\n", name)
	drain:
		for {
			select {
			case rec, ok := <-servers[name].logs:
				if !ok {
					break drain
				}
				if msg, _ := rec["msg"].(string); strings.Contains(msg, "replica") || rec["level"] != "INFO" {
					fmt.Fprintf(&b, "%v\n", rec)
				}
			default:
				break drain
			}
		}
	}
	return b.String()
}

// TestSyncKilled: `tidemark sync` killed with SIGKILL in the middle of an
// initial sync resumes on the next run: the copy ends identical (same
// UIDs, same contents, nothing twice), and a further run moves nothing.
func TestSyncKilled(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapP, replP := freeAddr(t), freeAddr(t)
	conf := replicaDir(t, filepath.Join(root, "p"), imapP, replP, secret)
	st, err := sqlitestore.Open(filepath.Join(root, "p", "data"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := acct.Mailbox(context.Background(), "INBOX")
	const n = 3000
	for i := 0; i < n; i += 100 {
		var msgs []store.NewMessage
		for j := i; j < i+100; j++ {
			body := fmt.Sprintf("Subject: message %d\r\nMessage-ID: <%d@killed>\r\n\r\n%s\r\n", j, j, strings.Repeat("text ", 200))
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body)})
		}
		if _, err := acct.Append(context.Background(), in.ID, msgs); err != nil {
			t.Fatal(err)
		}
	}
	acct.Close()
	st.Close()
	p := startServe(t, bin, "--config", conf)
	for p.addrs["replication"] == "" {
		p.waitLog("listening")
	}

	local := filepath.Join(root, "local")
	run := func() *exec.Cmd {
		return exec.Command(bin, "sync", "--data", local, "--peer", replP, "--secret-file", secret)
	}
	// Kill the first run once some messages have landed (or whenever it
	// happens to be: any point must do).
	cmd := run()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(filepath.Join(local, "users", "alice", "meta.db-wal")); err == nil && fi.Size() > 1<<20 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ks, err := sqlitestore.Open(local, sqlitestore.Options{}); err == nil {
		if ka, err := ks.Open(context.Background(), "alice"); err == nil {
			if m, err := ka.Mailbox(context.Background(), "INBOX"); err == nil {
				t.Logf("killed with UIDNEXT %d of %d", m.UIDNext, n+1)
			}
			ka.Close()
		}
		ks.Close()
	}

	if out, err := run().CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	out, err := run().CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 0 messages added") || !strings.Contains(string(out), "0 bodies sent") {
		t.Fatalf("third run moved something: %v\n%s", err, out)
	}
	// The copy holds every message once, under the source's UIDs.
	ls, err := sqlitestore.Open(local, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	la, err := ls.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lin, _ := la.Mailbox(context.Background(), "INBOX")
	seen := map[string]bool{}
	count := 0
	err = la.Messages(context.Background(), lin.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(d *store.MessageData) error {
		if want := fmt.Sprintf("message %d", d.UID-1); d.Structure.Search.Subject != want {
			return fmt.Errorf("UID %d holds %q", d.UID, d.Structure.Search.Subject)
		}
		if seen[d.BlobID] {
			return fmt.Errorf("UID %d: content twice", d.UID)
		}
		seen[d.BlobID] = true
		count++
		return nil
	})
	if err != nil || count != n || lin.UIDNext != n+1 {
		t.Fatalf("copy: %d messages, UIDNEXT %d, %v", count, lin.UIDNext, err)
	}
}
