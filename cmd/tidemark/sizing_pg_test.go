package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"github.com/tidemark-mail/tidemark/internal/loadtest"
	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// sizingScale is the size of TestSizingPostgres: the suite runs a small
// one; TIDEMARK_SIZING_USERS, _SESSIONS and _SAMPLES ask for more
// (docs/deployment.md "Sizing" used 10000, 1000 and 400).
func sizingScale(t *testing.T) (users, sessions, samples int) {
	users, sessions, samples = 10, 10, 5
	for _, v := range []struct {
		env string
		n   *int
	}{{"TIDEMARK_SIZING_USERS", &users}, {"TIDEMARK_SIZING_SESSIONS", &sessions}, {"TIDEMARK_SIZING_SAMPLES", &samples}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q", v.env, s)
			}
			*v.n = n
		}
	}
	return users, sessions, samples
}

const sizingPassword = "sizing-pass"

func sizingUser(i int) string { return fmt.Sprintf("u%05d", i) }

// sizingMessages is how many messages user i has: 20 to 50.
func sizingMessages(i int) int { return 20 + (i*7)%31 }

// TestSizingPostgres measures what a deployment on PostgreSQL costs per
// user: USERS accounts each with a small mailbox (20 to 50 messages of
// the corpus, the default mailboxes), then one `tidemark serve` front end
// holding SESSIONS logged-in IDLE sessions spread over users, then
// SAMPLES logins of a random user each followed by SELECT INBOX and a
// FETCH of every message. It logs the database size per user, the front
// end's resident memory per idle session, the PostgreSQL connections the
// front end holds, and the percentiles of the login and of SELECT+FETCH.
// What it asserts is that every step worked: each session got to IDLE,
// each FETCH returned the user's messages.
func TestSizingPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	path := corpus.Path()
	corpusMsgs, err := loadtest.ReadMbox(path)
	if err != nil {
		if corpus.Required() {
			t.Fatal(err)
		}
		t.Skipf("no corpus: %v", err)
	}
	nUsers, nSessions, nSamples := sizingScale(t)
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	bin := buildTidemark(t)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	dbSize := func() int64 {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	start := time.Now()
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	empty := dbSize()
	populateSizing(t, ctx, st, dsn, corpusMsgs, nUsers)
	st.Close()
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		t.Fatal(err)
	}
	full := dbSize()
	t.Logf("populated %d users in %v", nUsers, time.Since(start).Round(time.Second))
	var totalMsgs int
	for i := range nUsers {
		totalMsgs += sizingMessages(i)
	}
	t.Logf("database: %d MiB for %d users, %d messages: %.1f KiB per user, %.0f bytes per message (empty schema %d MiB)",
		(full-empty)>>20, nUsers, totalMsgs, float64(full-empty)/float64(nUsers)/1024, float64(full-empty)/float64(totalMsgs), empty>>20)
	rows, _ := conn.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC LIMIT 12`)
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var name string
		var size int64
		err := r.Scan(&name, &size)
		return fmt.Sprintf("%s %.1f KiB/user", name, float64(size)/float64(nUsers)/1024), err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest tables: %s", strings.Join(tables, ", "))

	conf := nodeConf(t, t.TempDir(), "127.0.0.1:0", pgSection(dsn)+"[limits]\nmax_sessions_per_user = 1000\n", false)
	sb := startServe(t, bin, "--config", conf)
	sb.waitLog("listening")
	go func() {
		for range sb.logs {
		}
	}()
	addr := sb.addrs["imap"]
	pid := sb.cmd.Process.Pid
	// One login first, so that the pools and caches every session shares
	// are in the baseline rather than in the per-session figure.
	runSizingSample(t, addr, 0)
	time.Sleep(time.Second)
	base := residentKiB(t, pid)
	conns := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Logf("front end after one login: %d MiB resident, %d PostgreSQL connections", base>>10, conns())

	// SESSIONS logged in and idling, ten per user.
	idle := make([]*lineClient, nSessions)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range idle {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			idle[i] = openIdleSession(t, addr, sizingUser((i/10)%nUsers))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	time.Sleep(2 * time.Second)
	withIdle := residentKiB(t, pid)
	t.Logf("front end with %d IDLE sessions over %d users: %d MiB resident, %.1f KiB per session, %d PostgreSQL connections",
		nSessions, (nSessions+9)/10, withIdle>>10, float64(withIdle-base)/float64(nSessions), conns())
	for _, c := range idle {
		c.conn.Close()
	}

	// SAMPLES logins of a random user, each followed by SELECT and FETCH.
	r := rand.New(rand.NewPCG(1, 2))
	var logins, reads []time.Duration
	for range nSamples {
		l, rd := runSizingSample(t, addr, r.IntN(nUsers))
		logins = append(logins, l)
		reads = append(reads, rd)
	}
	t.Logf("random user (%d samples): LOGIN p50 %v p99 %v; SELECT INBOX + FETCH 1:* p50 %v p99 %v; PostgreSQL connections after: %d",
		nSamples, pct(logins, 50), pct(logins, 99), pct(reads, 50), pct(reads, 99), conns())
}

// populateSizing makes n users through the store and the shared
// accounts, four at a time. Every account gets the same argon2id record
// (one hash, made with the production parameters): its size and its
// verification cost are those of any, and 10,000 hashes would cost ten
// minutes of CPU. User i's INBOX gets sizingMessages(i) corpus messages
// from a place of its own in the corpus; identical bodies are stored once
// (the store shares them between users), so the corpus's 2,000 bodies
// are the only body bytes.
func populateSizing(t *testing.T, ctx context.Context, st store.Store, dsn string, msgs [][]byte, n int) {
	accts, err := auth.OpenPostgresAccounts(ctx, dsn, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer accts.Close()
	if err := accts.Add(sizingUser(0), sizingPassword); err != nil {
		t.Fatal(err)
	}
	recs, err := accts.Records(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v %v", recs, err)
	}
	var batch []auth.Record
	for i := 1; i < n; i++ {
		batch = append(batch, auth.Record{Name: sizingUser(i), Stamp: recs[0].Stamp + int64(i), Hash: recs[0].Hash, Created: recs[0].Created})
		if len(batch) == 1000 || i == n-1 {
			if _, err := accts.Apply(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	defaults := defaultMailboxes(config.Default().SpecialUse)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := populateUser(ctx, st, msgs, i, defaults); err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func populateUser(ctx context.Context, st store.Store, msgs [][]byte, i int, defaults []store.DefaultMailbox) error {
	user := sizingUser(i)
	if err := st.CreateUser(ctx, user); err != nil {
		return err
	}
	a, err := st.Open(ctx, user)
	if err != nil {
		return err
	}
	defer a.Close()
	if dc, ok := a.(store.DefaultCreator); ok {
		if _, err := dc.CreateDefaults(ctx, defaults); err != nil {
			return err
		}
	}
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		return err
	}
	k := sizingMessages(i)
	nm := make([]store.NewMessage, k)
	for j := range nm {
		nm[j] = store.NewMessage{Body: bytes.NewReader(msgs[(i*53+j)%len(msgs)])}
		if j%3 == 0 {
			nm[j].Flags = store.Flags{System: store.FlagSeen}
		}
	}
	_, err = a.Append(ctx, inbox.ID, nm)
	return err
}

// openIdleSession logs in as user, selects INBOX and starts IDLE.
func openIdleSession(t *testing.T, addr, user string) *lineClient {
	c := dialGreeted(t, addr)
	if _, tagged, err := c.do("LOGIN " + user + " " + sizingPassword); err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Errorf("LOGIN %s: %q %v", user, tagged, err)
		return c
	}
	if _, tagged, err := c.do("SELECT INBOX"); err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Errorf("SELECT as %s: %q %v", user, tagged, err)
		return c
	}
	c.conn.SetDeadline(time.Now().Add(hangDeadline))
	fmt.Fprintf(c.conn, "i IDLE\r\n")
	if l, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+") {
		t.Errorf("IDLE as %s: %q %v", user, l, err)
	}
	c.conn.SetDeadline(time.Time{})
	return c
}

// runSizingSample logs in as user i, selects INBOX and fetches every
// message, checking it gets them all; it returns the time of the login
// and of SELECT+FETCH.
func runSizingSample(t *testing.T, addr string, i int) (login, read time.Duration) {
	t.Helper()
	c := dialGreeted(t, addr)
	defer c.conn.Close()
	t0 := time.Now()
	if _, tagged, err := c.do("LOGIN " + sizingUser(i) + " " + sizingPassword); err != nil || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("LOGIN %s: %q %v", sizingUser(i), tagged, err)
	}
	t1 := time.Now()
	c.mustOK(t, "SELECT INBOX")
	lines := c.mustOK(t, "FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
	t2 := time.Now()
	n := 0
	for _, l := range lines {
		if strings.Contains(l, " FETCH (") {
			n++
		}
	}
	if n != sizingMessages(i) {
		t.Fatalf("%s: FETCH returned %d messages, want %d", sizingUser(i), n, sizingMessages(i))
	}
	c.do("LOGOUT")
	return t1.Sub(t0), t2.Sub(t1)
}

// residentKiB reads a process's resident set size.
func residentKiB(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)].Round(10 * time.Microsecond)
}
