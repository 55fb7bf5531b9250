package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestKillServerMidPipeline kills the server (SIGKILL) while one client
// has a long pipeline of writes in flight and another session of the
// mailbox waits in IDLE: pipelined commands commit one after the other
// and their answers wait for a sync they share, and the IDLE session
// waits for that sync rather than making its own. After a restart every
// command the client got its OK for must be there: each acknowledged
// APPEND's message under its APPENDUID, each acknowledged UID STORE's
// flag on its message. Each round pipelines into a fresh mailbox.
//
// TIDEMARK_KILL_ROUNDS and TIDEMARK_KILL_SEED as for
// TestKillServerUnderLoad (at most as many rounds as its load mailboxes).
func TestKillServerMidPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := min(envIntDefault(killRoundsEnv, 3), killClients)
	seed := envIntDefault(killSeedEnv, 1)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	bin := buildTidemark(t)
	data := killTestData(t)
	start := func() *servedBinary { return startKillServe(t, bin, data) }
	const pairs = 1500 // APPEND then UID STORE of the message it appended
	total := 0
	for round := range rounds {
		box := "Load" + strconv.Itoa(round)
		sb := start()
		addr := sb.addrs["imap"]

		idler := dialLogin(t, addr)
		idler.send("i1 SELECT " + box)
		idler.until("i1 ")
		idler.send("i2 IDLE")
		idler.until("+")
		go func() { // drained until the kill ends it
			for {
				if _, err := idler.r.ReadString('\n'); err != nil {
					return
				}
			}
		}()

		w := dialLogin(t, addr)
		w.send("s SELECT " + box)
		w.until("s ")
		var pipe strings.Builder
		for i := range pairs {
			body := fmt.Sprintf("Subject: pipelined %d\r\nX-Op: p%d-%d\r\n\r\n%s\r\n", i, round, i, strings.Repeat("y", rng.IntN(3000)))
			fmt.Fprintf(&pipe, "a%d APPEND %s {%d+}\r\n%s\r\n", i, box, len(body), body)
			// The mailbox is fresh: the i-th APPEND gets UID i+1.
			fmt.Fprintf(&pipe, "f%d UID STORE %d +FLAGS.SILENT (\\Flagged)\r\n", i, i+1)
		}
		go w.conn.Write([]byte(pipe.String())) // ends with an error at the kill

		// Read answers until the kill; kill once some arrived, at a
		// random point of the rest.
		appended := map[int]uint32{} // i → APPENDUID, acknowledged
		flagged := map[int]bool{}    // i → UID STORE acknowledged
		killAfter := 20 + rng.IntN(pairs)
		killed := false
		w.conn.SetReadDeadline(time.Now().Add(hangDeadline))
		for oks := 0; ; {
			l, err := w.r.ReadString('\n')
			if err != nil {
				break
			}
			tag, rest, _ := strings.Cut(strings.TrimRight(l, "\r\n"), " ")
			if tag == "*" || tag == "" {
				continue
			}
			if !strings.HasPrefix(rest, "OK") {
				t.Fatalf("round %d: %s %s", round, tag, rest)
			}
			i, err := strconv.Atoi(tag[1:])
			if err != nil {
				t.Fatalf("round %d: tag %q", round, tag)
			}
			switch tag[0] {
			case 'a':
				mm := reAppendUID.FindStringSubmatch(rest)
				if mm == nil {
					t.Fatalf("round %d: APPEND answered %q", round, rest)
				}
				uid, _ := strconv.ParseUint(mm[1], 10, 32)
				appended[i] = uint32(uid)
			case 'f':
				flagged[i] = true
			}
			if oks++; oks == killAfter && !killed {
				if err := sb.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		if !killed {
			t.Fatalf("round %d: the pipeline of %d commands ended before the kill at answer %d", round, 2*pairs, killAfter)
		}
		sb.cmd.Wait()
		w.conn.Close()
		idler.conn.Close()

		sb = start()
		cl, err := imapclient.DialInsecure(sb.addrs["imap"], nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Login("joe", "secret-pass").Wait(); err != nil {
			t.Fatal(err)
		}
		type stored struct {
			op      string
			flagged bool
		}
		got := map[uint32]stored{}
		for _, m := range fetchStoredOps(t, cl, box) {
			got[m.uid] = stored{op: m.op, flagged: slices.Contains(m.flags, imap.FlagFlagged)}
		}
		for i, uid := range appended {
			if want := fmt.Sprintf("p%d-%d", round, i); got[uid].op != want {
				t.Errorf("round %d: APPEND %d acknowledged as UID %d, found %q there after kill -9", round, i, uid, got[uid].op)
			}
		}
		for i := range flagged {
			if uid := uint32(i + 1); !got[uid].flagged {
				t.Errorf("round %d: UID STORE of UID %d acknowledged, \\Flagged lost after kill -9", round, uid)
			}
		}
		cl.Logout().Wait()
		cl.Close()
		sb.cmd.Process.Kill()
		sb.cmd.Wait()
		t.Logf("round %d: killed after %d answers; %d APPENDs and %d STOREs acknowledged, all there", round, killAfter, len(appended), len(flagged))
		total += len(appended) + len(flagged)
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d rounds, %d acknowledged pipelined commands checked", rounds, total)
}

// rawClient is a logged-in connection speaking raw lines.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialLogin(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.until("* OK")
	c.send("l LOGIN joe secret-pass")
	c.until("l OK")
	return c
}

func (c *rawClient) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

// until reads lines until one that begins with prefix.
func (c *rawClient) until(prefix string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			return
		}
	}
}
