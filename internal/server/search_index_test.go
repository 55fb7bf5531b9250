package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// scanModel is the test's own copy of a mailbox: each UID's bytes, so a
// search can be answered by parsing and scanning every message, with no
// index and no store.
type scanModel map[store.UID][]byte

// want answers a SEARCH key by a straightforward scan.
func (m scanModel) want(t *testing.T, key string) store.UIDSet {
	t.Helper()
	d := wire.NewDecoder(bufio.NewReader(strings.NewReader(key+"\r\n")), wire.Limits{})
	d.Begin()
	d.OnSyncLiteral = func(int64) error { return nil }
	prog, err := search.Parse(d, "")
	if err != nil {
		t.Fatalf("parse %q: %v", key, err)
	}
	var out store.UIDSet
	for u := store.UID(1); u < store.UID(len(m)+1000); u++ {
		raw, ok := m[u]
		if !ok {
			continue
		}
		st, err := message.Parse(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		md := &store.MessageData{MessageState: store.MessageState{UID: u}, Structure: st, Size: int64(len(raw))}
		r, err := prog.Match(&search.Message{State: &md.MessageState, Data: md, Body: bytes.NewReader(raw)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r == search.Yes {
			out.Add(u)
		}
	}
	return out
}

// uidSearch sends UID SEARCH key over c and returns the UIDs answered.
func uidSearch(c *client, tag, key string) store.UIDSet {
	c.t.Helper()
	c.send(tag + " UID SEARCH " + key)
	var got store.UIDSet
	for _, l := range c.until(tag + " ") {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			for _, f := range strings.Fields(rest) {
				n, err := strconv.ParseUint(f, 10, 32)
				if err != nil {
					c.t.Fatalf("SEARCH response %q", l)
				}
				got.Add(store.UID(n))
			}
		} else if strings.HasPrefix(l, tag+" ") && !strings.HasPrefix(l, tag+" OK") {
			c.t.Fatalf("UID SEARCH %q: %s", key, l)
		}
	}
	return got
}

func appendLiteral(c *client, tag string, raw []byte) {
	c.t.Helper()
	c.send(fmt.Sprintf("%s APPEND INBOX {%d+}\r\n%s", tag, len(raw), raw))
	c.until(tag + " ")
}

// TestSearchIndexMatchesScan: random messages are appended over the socket
// (so each is searchable from its tagged OK on), and every random UID
// SEARCH of a string key, answered by the server from its text index
// where the string is long enough, equals the test's own scan of the
// messages; again after expunges and more appends. The seed is logged;
// TIDEMARK_TEXT_SEED overrides it.
func TestSearchIndexMatchesScan(t *testing.T) {
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("TIDEMARK_TEXT_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (TIDEMARK_TEXT_SEED)", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	c.send("S SELECT INBOX")
	c.until("S OK")
	model := scanModel{}
	next := store.UID(1)
	add := func(n int) {
		for range n {
			raw := messagetest.Message(r)
			appendLiteral(c, "A", raw)
			model[next] = raw
			next++
		}
	}
	check := func(stage string, n int) {
		for i := range n {
			key := messagetest.SearchKey(r)
			want := model.want(t, key)
			if got := uidSearch(c, fmt.Sprintf("Q%d", i), key); got.String() != want.String() {
				t.Fatalf("%s: UID SEARCH %q: server %v, scan %v", stage, key, got, want)
			}
		}
	}
	add(40)
	check("after append", 80)

	// A message is found by its own words as soon as APPEND is answered.
	appendLiteral(c, "A", []byte("Subject: fresh\r\n\r\nunmistakable-token\r\n"))
	model[next] = []byte("Subject: fresh\r\n\r\nunmistakable-token\r\n")
	if got := uidSearch(c, "F", "BODY unmistakable-token"); got.String() != strconv.Itoa(int(next)) {
		t.Fatalf("fresh message: %v", got)
	}
	next++

	var gone []string
	for u := range model {
		if r.IntN(3) == 0 {
			gone = append(gone, strconv.Itoa(int(u)))
			delete(model, u)
		}
	}
	if len(gone) > 0 {
		c.send("E UID STORE " + strings.Join(gone, ",") + " +FLAGS.SILENT (\\Deleted)")
		c.until("E OK")
		c.send("X EXPUNGE")
		c.until("X OK")
	}
	add(10)
	check("after expunge and append", 60)
}

// TestSearchIndexImapClient: go-imap v2's client searches BODY, TEXT,
// FROM and SUBJECT (long strings, answered from the index, and short
// ones, scanned) and gets what a scan finds.
func TestSearchIndexImapClient(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.account()
	ctx := context.Background()
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	model := scanModel{}
	var msgs []store.NewMessage
	for i := range 30 {
		raw := messagetest.Message(r)
		model[store.UID(i+1)] = raw
		msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(raw)})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, w := range []string{"xylograph", "CRÈME", "straße", "日本語", "σοφίας", "someone", "ab", "x"} {
		for _, k := range []struct {
			key string
			c   imap.SearchCriteria
		}{
			{"BODY", imap.SearchCriteria{Body: []string{w}}},
			{"TEXT", imap.SearchCriteria{Text: []string{w}}},
			{"FROM", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: w}}}},
			{"SUBJECT", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: w}}}},
		} {
			data, err := cl.UIDSearch(&k.c, nil).Wait()
			if err != nil {
				t.Fatalf("%s %q: %v", k.key, w, err)
			}
			var got store.UIDSet
			for _, u := range data.AllUIDs() {
				got.Add(store.UID(u))
			}
			want := model.want(t, k.key+" "+messagetest.Literal(w))
			if got.String() != want.String() {
				t.Fatalf("%s %q: server %v, scan %v", k.key, w, got, want)
			}
			found += int(got.Len())
		}
	}
	if found == 0 {
		t.Fatal("no search found anything: the corpus does not exercise the keys")
	}
}

// TestSearchIndexOff: with the text index turned off ([search]
// text_index = false), messages appended over the socket leave the index
// unanswering (so it holds nothing SEARCH trusts), and UID SEARCH of
// BODY, TEXT, SUBJECT and FROM, by literal lines and by go-imap's client,
// still finds exactly what a scan finds.
func TestSearchIndexOff(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 13))
	env := newTestEnvStore(t, "127.0.0.1:0", sqlitestore.Options{Now: testNow, NoTextIndex: true}, nil)
	c := env.dial()
	c.login()
	c.send("S SELECT INBOX")
	c.until("S OK")
	model := scanModel{}
	for u := store.UID(1); u <= 25; u++ {
		raw := messagetest.Message(r)
		appendLiteral(c, "A", raw)
		model[u] = raw
	}
	fresh := []byte("From: Quentin <quentin@example.org>\r\nSubject: offline quarterly figures\r\n\r\nunmistakable-token\r\n")
	appendLiteral(c, "A", fresh)
	model[26] = fresh

	a := env.account()
	ctx := context.Background()
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ts, ok := a.(store.TextSearcher)
	if !ok {
		t.Fatal("the embedded store has no text index")
	}
	if h, err := ts.SearchText(ctx, inbox.ID, store.TextBody, "unmistakable-token", store.UIDSet{{Start: 1, Stop: 100}}); err != nil || h.OK {
		t.Fatalf("index answered with text_index off: %+v, %v", h, err)
	}
	for key, want := range map[string]string{
		"BODY unmistakable-token":     "26",
		"TEXT unmistakable-token":     "26",
		`SUBJECT "quarterly figures"`: "26",
		"FROM quentin@example":        "26",
		"BODY no-such-token-anywhere": "",
	} {
		if got := uidSearch(c, "K", key); got.String() != want {
			t.Fatalf("UID SEARCH %s: %v, want %q", key, got, want)
		}
	}
	for i := range 60 {
		key := messagetest.SearchKey(r)
		want := model.want(t, key)
		if got := uidSearch(c, fmt.Sprintf("Q%d", i), key); got.String() != want.String() {
			t.Fatalf("UID SEARCH %q: server %v, scan %v", key, got, want)
		}
	}
	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []imap.SearchCriteria{
		{Body: []string{"unmistakable-token"}},
		{Text: []string{"unmistakable-token"}},
		{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "quarterly figures"}}},
	} {
		data, err := cl.UIDSearch(&k, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if uids := data.AllUIDs(); len(uids) != 1 || uids[0] != 26 {
			t.Fatalf("go-imap search %+v: %v", k, uids)
		}
	}
}
