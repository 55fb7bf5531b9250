package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// The tests here run against the reference Dovecot (../shared/refservers/
// dovecot.sh), started privately:
//
//	TIDEMARK_MIGRATE_DOVECOT_ROOT  its root (default /tmp/dovecot-migrate); a
//	                               second instance without CONDSTORE/QRESYNC
//	                               uses ROOT-nocs, a third with METADATA
//	                               ROOT-meta
//	TIDEMARK_MIGRATE_DOVECOT_PORT  its port (default 11253; the second one +1,
//	                               the third +3)
//	TIDEMARK_DOVECOT_SCRIPT        the script (default ../shared/refservers/dovecot.sh
//	                               beside the checkout)
//	TIDEMARK_REQUIRE_DOVECOT=1     fail instead of skipping when it cannot start
//	(or TIDEMARK_CI=1, as .ci/run sets)
//
// Each test works on its own Dovecot user, whose mail it wipes first.

// dovecot is one running reference instance.
type dovecot struct {
	root string
	addr string
	port int
}

// specialUseConf gives the source special-use mailboxes.
const specialUseConf = `namespace inbox {
  mailbox Sent {
    special_use = \Sent
  }
  mailbox Archive {
    special_use = \Archive
  }
}`

// noCondstoreConf hides CONDSTORE, QRESYNC and LIST-EXTENDED, so the
// migration must compare UID lists and use LSUB.
const noCondstoreConf = `imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS SPECIAL-USE`

// metadataConf turns on RFC 5464 METADATA, entries kept in a file per
// user.
const metadataConf = `imap_metadata = yes
mail_attribute_dict = file:%h/dovecot-attributes`

var (
	dovecotOnce  = map[string]*sync.Once{"": new(sync.Once), "nocs": new(sync.Once), "meta": new(sync.Once)}
	dovecotState = map[string]*dovecot{}
	dovecotErr   = map[string]error{}
)

// startDovecot starts the reference Dovecot, plain or without CONDSTORE,
// restarting it when it runs with another configuration than this file's.
func startDovecot(t testing.TB, variant string) *dovecot {
	t.Helper()
	dovecotOnce[variant].Do(func() {
		root := envOr("TIDEMARK_MIGRATE_DOVECOT_ROOT", "/tmp/dovecot-migrate")
		port, _ := strconv.Atoi(envOr("TIDEMARK_MIGRATE_DOVECOT_PORT", "11253"))
		extra := specialUseConf
		switch variant {
		case "nocs":
			root += "-nocs"
			port++
			extra += "\n" + noCondstoreConf
		case "meta":
			root += "-meta"
			port += 3 // +2 is cmd/tidemark's migration Dovecot
			extra += "\n" + metadataConf
		}
		script := os.Getenv("TIDEMARK_DOVECOT_SCRIPT")
		if script == "" {
			wd, _ := os.Getwd()
			script = filepath.Join(wd, "..", "..", "..", "shared", "refservers", "dovecot.sh")
		}
		if _, err := os.Stat(script); err != nil {
			dovecotErr[variant] = fmt.Errorf("no reference Dovecot script at %s (set TIDEMARK_DOVECOT_SCRIPT)", script)
			return
		}
		// Restart only when the running configuration is not this file's:
		// another test process may be using the instance.
		action := "restart"
		if conf, err := os.ReadFile(filepath.Join(root, "etc", "dovecot.conf")); err == nil &&
			strings.Contains(string(conf), "# from DOVECOT_REF_EXTRA_CONF\n"+extra+"\n") &&
			strings.Contains(string(conf), "port = "+strconv.Itoa(port)+"\n") {
			action = "start"
		}
		cmd := exec.Command(script, action)
		cmd.Env = append(os.Environ(), "DOVECOT_REF_ROOT="+root, "DOVECOT_REF_PORT="+strconv.Itoa(port),
			"DOVECOT_REF_NUSERS=10", "DOVECOT_REF_EXTRA_CONF="+extra)
		out, err := cmd.CombinedOutput()
		if err != nil {
			dovecotErr[variant] = fmt.Errorf("%s %s: %v\n%s", script, action, err, out)
			return
		}
		dovecotState[variant] = &dovecot{root: root, addr: "127.0.0.1:" + strconv.Itoa(port), port: port}
	})
	if err := dovecotErr[variant]; err != nil {
		if os.Getenv("TIDEMARK_REQUIRE_DOVECOT") != "" || os.Getenv("TIDEMARK_CI") != "" {
			t.Fatalf("reference Dovecot: %v", err)
		}
		t.Skipf("reference Dovecot cannot start, skipping: %v", err)
	}
	return dovecotState[variant]
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// resetUser wipes a Dovecot user's mail (created again at next login).
func (d *dovecot) resetUser(t testing.TB, user string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(d.root, "mail", user)); err != nil {
		t.Fatal(err)
	}
}

func (d *dovecot) source(user string) *Source {
	return &Source{User: user, Host: "127.0.0.1", Port: d.port}
}

// client logs in with go-imap's client, the independent one the tests use
// to change the source.
func (d *dovecot) client(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, "pass").Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// srcMessage is a message to put on the source.
type srcMessage struct {
	body  string
	flags []imap.Flag
	date  time.Time
}

func testBody(mailbox string, i int) string {
	pad := strings.Repeat("lorem ipsum dolor sit amet ", i%40)
	return fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: rcpt@example.org\r\nSubject: %s message %d\r\n"+
		"Message-ID: <%s.%d@example.org>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n\r\nbody %d of %s\r\n%s\r\n",
		i, i, mailbox, i, strings.ReplaceAll(mailbox, "/", "."), i, i, mailbox, pad)
}

func makeMessages(mailbox string, from, n int) []srcMessage {
	var out []srcMessage
	for i := from; i < from+n; i++ {
		var flags []imap.Flag
		switch i % 5 {
		case 0:
			flags = []imap.Flag{imap.FlagSeen}
		case 1:
			flags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "$Work"}
		case 2:
			flags = []imap.Flag{imap.FlagFlagged, "Later"}
		case 3:
			flags = []imap.Flag{imap.FlagDraft, imap.FlagDeleted}
		}
		out = append(out, srcMessage{body: testBody(mailbox, i), flags: flags,
			date: time.Date(2022, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)).Add(time.Duration(i) * 97 * time.Minute)})
	}
	return out
}

// appendAll APPENDs messages, pipelined.
func appendAll(t testing.TB, c *imapclient.Client, mailbox string, msgs []srcMessage) {
	t.Helper()
	var cmds []*imapclient.AppendCommand
	for _, m := range msgs {
		cmd := c.Append(mailbox, int64(len(m.body)), &imap.AppendOptions{Flags: m.flags, Time: m.date})
		if _, err := io.WriteString(cmd, m.body); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND to %s: %v", mailbox, err)
		}
	}
}

// newTarget makes a store with one user.
func newTarget(t testing.TB) (*sqlitestore.Store, store.Account) {
	t.Helper()
	return newTargetIn(t, t.TempDir())
}

func newTargetIn(t testing.TB, dir string) (*sqlitestore.Store, store.Account) {
	t.Helper()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return st, a
}

func migrateOnce(t testing.TB, st store.Store, src *Source) Stats {
	t.Helper()
	var warnings []string
	stats, err := Run(context.Background(), st, "alice", src, Options{Password: "pass", BatchMessages: 7,
		Warn: func(s string) { warnings = append(warnings, s) }})
	if err != nil {
		t.Fatalf("migrate: %v (warnings %q)", err, warnings)
	}
	t.Logf("run: %+v; warnings %q", stats, warnings)
	return stats
}

// mailboxCopy is one mailbox as both sides show it.
type mailboxCopy struct {
	uidValidity uint32
	uidNext     uint32
	special     string
	messages    []messageCopy
}

type messageCopy struct {
	uid   uint32
	flags string
	date  time.Time
	body  string
}

func flagString(sys store.SystemFlags, kws []string) string {
	var fs []string
	for _, f := range []struct {
		bit  store.SystemFlags
		name string
	}{{store.FlagSeen, `\Seen`}, {store.FlagAnswered, `\Answered`}, {store.FlagFlagged, `\Flagged`},
		{store.FlagDeleted, `\Deleted`}, {store.FlagDraft, `\Draft`}} {
		if sys&f.bit != 0 {
			fs = append(fs, f.name)
		}
	}
	for _, k := range kws {
		fs = append(fs, strings.ToLower(k))
	}
	slices.Sort(fs)
	return strings.Join(fs, " ")
}

// readSource reads every selectable mailbox of the source with go-imap.
func readSource(t testing.TB, d *dovecot, user string) (map[string]mailboxCopy, []string) {
	t.Helper()
	c := d.client(t, user)
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]mailboxCopy)
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		mc := mailboxCopy{uidValidity: sel.UIDValidity, uidNext: uint32(sel.UIDNext)}
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrSent, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk:
				mc.special = string(a)
			}
		}
		if sel.NumMessages > 0 {
			msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
				BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				var sys store.SystemFlags
				var kws []string
				for _, f := range m.Flags {
					switch strings.ToLower(string(f)) {
					case `\seen`:
						sys |= store.FlagSeen
					case `\answered`:
						sys |= store.FlagAnswered
					case `\flagged`:
						sys |= store.FlagFlagged
					case `\deleted`:
						sys |= store.FlagDeleted
					case `\draft`:
						sys |= store.FlagDraft
					case `\recent`:
					default:
						kws = append(kws, string(f))
					}
				}
				var body []byte
				for _, b := range m.BodySection {
					body = b.Bytes
				}
				mc.messages = append(mc.messages, messageCopy{uid: uint32(m.UID), flags: flagString(sys, kws), date: m.InternalDate, body: string(body)})
			}
		}
		slices.SortFunc(mc.messages, func(a, b messageCopy) int { return int(a.uid) - int(b.uid) })
		out[targetNameOf(l.Mailbox)] = mc
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range subs {
		names = append(names, targetNameOf(s.Mailbox))
	}
	slices.Sort(names)
	return out, names
}

func targetNameOf(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return name
}

// readTarget reads every mailbox of the target store.
func readTarget(t testing.TB, a store.Account) (map[string]mailboxCopy, []string) {
	t.Helper()
	ctx := context.Background()
	mbs, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]mailboxCopy)
	for _, mb := range mbs {
		mc := mailboxCopy{uidValidity: mb.UIDValidity, uidNext: uint32(mb.UIDNext), special: string(mb.SpecialUse)}
		err := a.Messages(ctx, mb.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
			bl, err := a.OpenBlob(ctx, m.BlobID)
			if err != nil {
				return err
			}
			defer bl.Close()
			body, err := io.ReadAll(bl)
			if err != nil {
				return err
			}
			mc.messages = append(mc.messages, messageCopy{uid: uint32(m.UID), flags: flagString(m.Flags.System, m.Flags.Keywords),
				date: m.InternalDate, body: string(body)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out[mb.Name] = mc
	}
	subs, err := a.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return out, subs
}

// assertSameMail checks that the target holds exactly the source's mail:
// every selectable source mailbox with its messages, bytes, flags,
// keywords and INTERNALDATE; with keepUIDs also UIDVALIDITY, UIDNEXT and
// UIDs. Target mailboxes the source lacks must be parents the hierarchy
// needs, and empty.
func assertSameMail(t testing.TB, d *dovecot, user string, a store.Account, keepUIDs bool) {
	t.Helper()
	compareMail(t, d, user, a, keepUIDs, true)
}

// compareMail is assertSameMail; withMeta compares special use and
// subscriptions too.
func compareMail(t testing.TB, d *dovecot, user string, a store.Account, keepUIDs, withMeta bool) {
	t.Helper()
	src, srcSubs := readSource(t, d, user)
	dst, dstSubs := readTarget(t, a)
	for name, s := range src {
		g, ok := dst[name]
		if !ok {
			t.Fatalf("mailbox %q missing from the target", name)
		}
		if keepUIDs && (g.uidValidity != s.uidValidity || g.uidNext != s.uidNext) {
			t.Errorf("%s: target UIDVALIDITY %d UIDNEXT %d, source %d %d", name, g.uidValidity, g.uidNext, s.uidValidity, s.uidNext)
		}
		if withMeta && g.special != s.special {
			t.Errorf("%s: target special use %q, source %q", name, g.special, s.special)
		}
		if len(g.messages) != len(s.messages) {
			t.Fatalf("%s: target has %d messages, source %d", name, len(g.messages), len(s.messages))
		}
		for i, sm := range s.messages {
			gm := g.messages[i]
			if keepUIDs && gm.uid != sm.uid {
				t.Errorf("%s: message %d has UID %d, source %d", name, i+1, gm.uid, sm.uid)
			}
			if gm.body != sm.body {
				t.Errorf("%s UID %d: bytes differ", name, sm.uid)
			}
			if gm.flags != sm.flags {
				t.Errorf("%s UID %d: flags %q, source %q", name, sm.uid, gm.flags, sm.flags)
			}
			if !gm.date.Equal(sm.date) {
				t.Errorf("%s UID %d: INTERNALDATE %v, source %v", name, sm.uid, gm.date, sm.date)
			}
		}
	}
	for name, g := range dst {
		if _, ok := src[name]; !ok && len(g.messages) > 0 {
			t.Errorf("target mailbox %q (%d messages) has no source", name, len(g.messages))
		}
	}
	if withMeta && !slices.Equal(srcSubs, dstSubs) {
		t.Errorf("subscriptions: target %q, source %q", dstSubs, srcSubs)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// populate gives a fresh source user a few mailboxes: INBOX with gaps in
// its UIDs, the special-use Sent and Archive, a nested Lists/golang, with
// subscriptions.
func populate(t testing.TB, d *dovecot, user string) {
	t.Helper()
	d.resetUser(t, user)
	c := d.client(t, user)
	for _, name := range []string{"Sent", "Archive", "Lists/golang"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"INBOX", "Sent", "Lists/golang"} {
		if err := c.Subscribe(name).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	appendAll(t, c, "INBOX", makeMessages("INBOX", 0, 25))
	appendAll(t, c, "Sent", makeMessages("Sent", 0, 5))
	appendAll(t, c, "Archive", makeMessages("Archive", 0, 8))
	appendAll(t, c, "Lists/golang", makeMessages("Lists/golang", 0, 6))
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	expungeUIDs(t, c, 3, 4)
}

// expungeUIDs marks the messages \Deleted and expunges them (the mailbox
// is selected).
func expungeUIDs(t testing.TB, c *imapclient.Client, uids ...imap.UID) {
	t.Helper()
	if err := c.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(uids...)).Close(); err != nil {
		t.Fatal(err)
	}
}

// changeSource makes the changes an incremental run must bring across:
// flag changes, expunges and new mail in INBOX, a new mailbox with mail,
// and a renamed one.
func changeSource(t testing.TB, d *dovecot, user string) {
	t.Helper()
	c := d.client(t, user)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagFlagged, "$Important"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(11), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true,
		Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expungeUIDs(t, c, 6, 7)
	appendAll(t, c, "INBOX", makeMessages("INBOX", 100, 3))
	if err := c.Create("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendAll(t, c, "Projects", makeMessages("Projects", 0, 2))
	if err := c.Rename("Lists/golang", "Lists/go", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe("Lists/golang").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("Lists/go").Wait(); err != nil {
		t.Fatal(err)
	}
}

// fullThenIncremental is the scenario both kinds of source must pass.
func fullThenIncremental(t *testing.T, variant, user string) {
	d := startDovecot(t, variant)
	populate(t, d, user)
	st, a := newTarget(t)
	src := d.source(user)

	s := migrateOnce(t, st, src)
	if s.Messages != 25-2+5+8+6 || s.Mailboxes != 4 || s.KeptUIDs != 4 || s.Matched != 0 {
		t.Fatalf("first run: %+v", s)
	}
	assertSameMail(t, d, user, a, true)
	golang, err := a.Mailbox(context.Background(), "Lists/golang")
	if err != nil {
		t.Fatal(err)
	}

	changeSource(t, d, user)
	s = migrateOnce(t, st, src)
	if s.Messages != 5 || s.Renamed != 1 || s.FlagChanges != 3 || s.Expunged != 2 || s.Created != 1 || s.Deleted != 0 {
		t.Fatalf("incremental run: %+v", s)
	}
	assertSameMail(t, d, user, a, true)
	if moved, err := a.Mailbox(context.Background(), "Lists/go"); err != nil || moved.ID != golang.ID {
		t.Fatalf("the renamed mailbox was not followed: %+v, %v (was id %d)", moved, err, golang.ID)
	}

	// Nothing changed: no message travels; with CONDSTORE not even a FETCH.
	s = migrateOnce(t, st, src)
	if s.Messages != 0 || s.FlagChanges != 0 || s.Expunged != 0 || s.BodyBytes != 0 {
		t.Fatalf("run with nothing changed: %+v", s)
	}
	if s.Condstore && (s.Fetches != 0 || s.Examined != 0) {
		t.Fatalf("run with nothing changed sent %d UID FETCH commands and EXAMINEd %d mailboxes (LIST-STATUS answers)", s.Fetches, s.Examined)
	}
	if !s.Condstore && s.Fetches > s.Mailboxes {
		t.Fatalf("run with nothing changed sent %d UID FETCH commands for %d mailboxes", s.Fetches, s.Mailboxes)
	}
	assertSameMail(t, d, user, a, true)
}

func TestDovecotFullThenIncremental(t *testing.T) {
	fullThenIncremental(t, "", "testuser1")
}

// The same scenario from a source without CONDSTORE and QRESYNC (and
// without LIST-EXTENDED): UID lists and flags are compared instead.
func TestDovecotWithoutCondstore(t *testing.T) {
	fullThenIncremental(t, "nocs", "testuser2")
}

// A source mailbox deleted and created again under the same name gets a
// new UIDVALIDITY: its messages are matched by content, none is stored
// twice, and what the new mailbox lacks is expunged.
func TestDovecotUIDValidityChange(t *testing.T) {
	d := startDovecot(t, "")
	user := "testuser3"
	populate(t, d, user)
	st, a := newTarget(t)
	src := d.source(user)
	migrateOnce(t, st, src)
	before, _ := a.Mailbox(context.Background(), "Archive")

	c := d.client(t, user)
	if err := c.Delete("Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs := makeMessages("Archive", 0, 8)
	appendAll(t, c, "Archive", append(msgs[2:], makeMessages("Archive", 50, 1)...))
	s := migrateOnce(t, st, src)
	if s.Matched != 6 || s.Messages != 1 || s.Expunged != 2 {
		t.Fatalf("after UIDVALIDITY change: %+v", s)
	}
	after, _ := a.Mailbox(context.Background(), "Archive")
	if after.ID != before.ID || after.UIDValidity != before.UIDValidity {
		t.Fatalf("Archive was replaced: %+v, before %+v", after, before)
	}
	assertSameMail(t, d, user, a, false)
	if s := migrateOnce(t, st, src); s.Messages != 0 || s.Fetches != 0 {
		t.Fatalf("run after the re-match: %+v", s)
	}
}

// Clear errors: a wrong password, an unreachable host.
func TestDovecotErrors(t *testing.T) {
	d := startDovecot(t, "")
	st, _ := newTarget(t)
	_, err := Run(context.Background(), st, "alice", d.source("testuser4"), Options{Password: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "wrong user name or password") {
		t.Fatalf("wrong password: %v", err)
	}
	_, err = Run(context.Background(), st, "alice", &Source{User: "x", Host: "127.0.0.1", Port: closedPort(t)}, Options{Password: "pass"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the source") {
		t.Fatalf("unreachable: %v", err)
	}
	_, err = Run(context.Background(), st, "nobody", d.source("testuser4"), Options{Password: "pass"})
	if err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("no target user: %v", err)
	}
}
