package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testEnv is a real server on 127.0.0.1 with a real store and accounts in
// a temporary directory, user "joe" with password "secret-pass". The store
// is the embedded one, or with TIDEMARK_TEST_STORE=postgres a fresh
// PostgreSQL database (see openTestStore), so that the whole protocol
// suite runs against either backend.
type testEnv struct {
	t     *testing.T
	dir   string // the data directory
	srv   *Server
	store store.Store
	addr  string
	// reopen opens a second store over the same data, as another process
	// would (closed when the test ends).
	reopen func() store.Store
}

const testUser, testPass = "joe", "secret-pass"

// testNowEnv names an instant (RFC 3339) that replaces the clock of every
// test server and store, so that the suite can be run on a chosen day:
// TestDatesOnFakedDay runs the date tests again with it set to a one-digit
// day, under other time zones.
const testNowEnv = "TIDEMARK_TEST_NOW"

// testNow is the clock of test servers and stores: the real one, or the
// fixed instant of TIDEMARK_TEST_NOW.
func testNow() time.Time {
	v := os.Getenv(testNowEnv)
	if v == "" {
		return time.Now()
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		panic(testNowEnv + ": " + err.Error())
	}
	return t.Local()
}

// testStoreEnv picks the backend of the test servers: "embedded" (the
// default) or "postgres".
const testStoreEnv = "TIDEMARK_TEST_STORE"

// openTestStore opens the store of a test server, closed by the caller,
// and returns with it a function that opens a second store over the same
// data, closed when the test ends.
// opts apply to the embedded store (the PostgreSQL one takes only the
// clock).
func openTestStore(t *testing.T, dir string, opts sqlitestore.Options) (store.Store, func() store.Store) {
	t.Helper()
	var open func() (store.Store, error)
	switch k := os.Getenv(testStoreEnv); k {
	case "", "embedded":
		open = func() (store.Store, error) { return sqlitestore.Open(dir, opts) }
	case "postgres":
		dsn := pgtest.DSN(t)
		open = func() (store.Store, error) {
			return pgstore.Open(context.Background(), dsn, pgstore.Options{Now: opts.Now, NoTextIndex: opts.NoTextIndex})
		}
	default:
		t.Fatalf("%s=%q: want embedded or postgres", testStoreEnv, k)
	}
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	reopen := func() store.Store {
		other, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		return other
	}
	return st, reopen
}

// embeddedOnly skips a test that reaches into the embedded store's files
// or fault hooks when the suite runs on another backend.
func embeddedOnly(t *testing.T, why string) {
	t.Helper()
	if k := os.Getenv(testStoreEnv); k != "" && k != "embedded" {
		t.Skipf("%s: needs the embedded store", why)
	}
}

// TestMain stops the private PostgreSQL the tests may have started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newTestEnv(t *testing.T, tweak func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvOn(t, "127.0.0.1:0", tweak)
}

// hangDeadline bounds every wait for the server. It only catches a server
// that hangs: no test depends on how fast an answer comes.
const hangDeadline = 2 * time.Minute

// newTestEnvOn is newTestEnv listening on addr.
func newTestEnvOn(t *testing.T, addr string, tweak func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvStore(t, addr, sqlitestore.Options{Now: testNow}, tweak)
}

// newTestEnvStore is newTestEnvOn with the store opened with opts.
func newTestEnvStore(t *testing.T, addr string, opts sqlitestore.Options, tweak func(*Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, reopen := openTestStore(t, dir, opts)
	accts, err := auth.OpenAccountsWith(dir, auth.Options{
		Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := accts.Add(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), testUser); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Auth: accts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: testNow}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := New(cfg)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangDeadline)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		accts.Close()
		st.Close()
	})
	return &testEnv{t: t, dir: dir, srv: srv, store: st, addr: l.Addr().String(), reopen: reopen}
}

// account opens the test user's store directly, as another writer would.
func (e *testEnv) account() store.Account {
	a, err := e.store.Open(context.Background(), testUser)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { a.Close() })
	return a
}

// appendMessages adds n small messages to a mailbox through the store.
func (e *testEnv) appendMessages(mailbox string, n int, flags store.Flags) store.AppendResult {
	e.t.Helper()
	a := e.account()
	mb, err := a.Mailbox(context.Background(), mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	var msgs []store.NewMessage
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body), Flags: flags})
	}
	res, err := a.Append(context.Background(), mb.ID, msgs)
	if err != nil {
		e.t.Fatal(err)
	}
	claimedElsewhere(e.t, a, mb.ID)
	return res
}

// claimedElsewhere claims every message of a mailbox as \Recent, as
// another session that selected it would: the helpers that add messages
// behind the test's back use it, so that only the \Recent tests
// (recent_test.go) see \Recent in FLAGS.
func claimedElsewhere(t *testing.T, a store.Account, id store.MailboxID) {
	t.Helper()
	mb, err := a.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.(store.RecentStore).ClaimRecent(context.Background(), id, mb.UIDNext); err != nil {
		t.Fatal(err)
	}
}

// client is one raw connection driven by transcript steps.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (e *testEnv) dial() *client {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	c := &client{t: e.t, conn: conn, r: bufio.NewReader(conn)}
	c.expect(`^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .*\] Tidemark ready$`)
	return c
}

// send writes one client line (CRLF added).
func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// readLine returns the next server line without CRLF.
func (c *client) readLine() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads one line per pattern, each a regular expression that must
// match the whole line.
func (c *client) expect(patterns ...string) []string {
	c.t.Helper()
	var got []string
	for _, p := range patterns {
		l := c.readLine()
		got = append(got, l)
		if !regexp.MustCompile(p).MatchString(l) {
			c.t.Fatalf("got %q, want match for %q (lines so far %q)", l, p, got)
		}
	}
	return got
}

// until reads lines up to and including the one starting with prefix,
// and returns them all.
func (c *client) until(prefix string) []string {
	c.t.Helper()
	var got []string
	for {
		l := c.readLine()
		got = append(got, l)
		if strings.HasPrefix(l, prefix) {
			return got
		}
	}
}

// expectClosed checks that the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	if l, err := c.r.ReadString('\n'); err != io.EOF {
		c.t.Fatalf("want connection closed, got %q %v", l, err)
	}
}

func (c *client) login() {
	c.t.Helper()
	c.send("L1 LOGIN " + testUser + " " + testPass)
	c.expect(`^L1 OK \[CAPABILITY .*\] Logged in$`)
}

// dialImapClient connects go-imap v2's client and logs in as the test user.
func dialImapClient(t *testing.T, e *testEnv) *imapclient.Client {
	t.Helper()
	cl, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	return cl
}
