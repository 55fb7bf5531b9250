package sqlitestore

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// parseProgram reads a search program; strings are sent as literals, so
// any bytes (CRLF included) can be searched for.
func parseProgram(t testing.TB, line string) *search.Program {
	t.Helper()
	d := wire.NewDecoder(bufio.NewReader(strings.NewReader(line+"\r\n")), wire.Limits{})
	d.Begin()
	d.OnSyncLiteral = func(int64) error { return nil }
	p, err := search.Parse(d, "")
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return p
}

// evalSearch runs prog over every message of a mailbox, as the server
// does: from the text index when index is set (store.TextSearcher), else
// by scanning each message. It returns the matches and how many messages
// had their bytes read.
func evalSearch(t testing.TB, a *Account, id store.MailboxID, prog *search.Program, index bool) (store.UIDSet, int) {
	t.Helper()
	return evalSearchAs(t, a, id, prog, index, index)
}

// evalSearchAs is evalSearch; with strict unset, an index that does not
// answer falls back to the scan, as the server does.
func evalSearchAs(t testing.TB, a *Account, id store.MailboxID, prog *search.Program, index, strict bool) (store.UIDSet, int) {
	t.Helper()
	ctx := context.Background()
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}}
	err := prog.ResolveText(func(f store.TextField, needle string) (store.TextHits, error) {
		if !index {
			return store.TextHits{}, nil
		}
		h, err := a.SearchText(ctx, id, f, needle, all)
		if err == nil && !h.OK && strict {
			t.Fatalf("index did not answer %q", needle)
		}
		return h, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got store.UIDSet
	opened := 0
	now := time.Now()
	err = a.Messages(ctx, id, all, func(md *store.MessageData) error {
		m := &search.Message{State: &md.MessageState}
		r, err := prog.Match(m, now)
		if r == search.Unknown {
			m.Data = md
			r, err = prog.Match(m, now)
		}
		if r == search.Unknown {
			b, err := a.OpenBlob(ctx, md.BlobID)
			if err != nil {
				return err
			}
			defer b.Close()
			opened++
			m.Body = b
			r, err = prog.Match(m, now)
			if err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		if r == search.Yes {
			got.Add(md.UID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, opened
}

// compareSearches checks n random searches: the index's answer equals the
// scan's, and reads no message's bytes when every key was indexable.
func compareSearches(t *testing.T, r *rand.Rand, a *Account, id store.MailboxID, n int, stage string) {
	t.Helper()
	compareSearchesAs(t, r, a, id, n, stage, false)
}

// compareSearchesAs is compareSearches; with backlog set, contents not yet
// indexed (textbehind.go) may be read.
func compareSearchesAs(t *testing.T, r *rand.Rand, a *Account, id store.MailboxID, n int, stage string, backlog bool) {
	t.Helper()
	indexed := 0
	for range n {
		key := messagetest.SearchKey(r)
		want, _ := evalSearch(t, a, id, parseProgram(t, key), false)
		got, opened := evalSearch(t, a, id, parseProgram(t, key), true)
		if got.String() != want.String() {
			t.Fatalf("%s: %q: index %v, scan %v", stage, key, got, want)
		}
		if !strings.Contains(key, "HEADER") && allIndexable(key) {
			indexed++
			if opened != 0 && !backlog {
				t.Fatalf("%s: %q: index answered but %d messages were read", stage, key, opened)
			}
		}
	}
	if indexed == 0 {
		t.Fatalf("%s: no search was answered by the index", stage)
	}
}

// allIndexable reports whether every literal of key is a string the
// index decides.
func allIndexable(key string) bool {
	for {
		i := strings.Index(key, "{")
		if i < 0 {
			return true
		}
		j := strings.Index(key[i:], "+}\r\n")
		n, _ := strconv.Atoi(key[i+1 : i+j])
		s := key[i+j+4 : i+j+4+n]
		if _, ok := message.IndexableNeedle(s); !ok {
			return false
		}
		key = key[i+j+4+n:]
	}
}

func textSeed(t *testing.T) uint64 {
	seed := uint64(1)
	if v, err := strconv.ParseUint(strings.TrimSpace(os.Getenv("TIDEMARK_TEXT_SEED")), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (TIDEMARK_TEXT_SEED)", seed)
	return seed
}

func appendRandom(t testing.TB, r *rand.Rand, a *Account, id store.MailboxID, n int) {
	t.Helper()
	msgs := make([]store.NewMessage, n)
	for i := range msgs {
		msgs[i] = store.NewMessage{Body: bytes.NewReader(messagetest.Message(r))}
	}
	if _, err := a.Append(context.Background(), id, msgs); err != nil {
		t.Fatal(err)
	}
}

// TestTextIndexMatchesScan: on a random mailbox, every search answered
// through the text index equals the same search answered by scanning the
// messages, after appends, copies, expunges and a rebuild.
func TestTextIndexMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 7))
	n := envInt("TIDEMARK_TEXT_MESSAGES", 60)
	searches := envInt("TIDEMARK_TEXT_SEARCHES", 150)
	// A small inline threshold puts some bodies in files.
	s, a := newAccountWith(t, Options{InlineBodyMax: 1500})
	ctx := context.Background()
	inbox := mustMailbox(t, a, "INBOX")
	for range 3 {
		appendRandom(t, r, a, inbox.ID, n/3)
	}
	compareSearches(t, r, a, inbox.ID, searches, "after append")

	// Copies share contents; expunging the originals keeps the copies
	// searchable, expunging the copies too drops their index rows.
	if _, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := mustMailbox(t, a, "Other")
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSet{{Start: 1, Stop: 10}}); err != nil {
		t.Fatal(err)
	}
	var gone store.UIDSet
	for u := store.UID(1); u <= store.UID(n); u++ {
		if r.IntN(2) == 0 {
			gone.Add(u)
		}
	}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	appendRandom(t, r, a, inbox.ID, n/3)
	compareSearches(t, r, a, inbox.ID, searches, "after expunge and append")
	compareSearches(t, r, a, other.ID, searches/3, "copies")
	if _, err := a.Expunge(ctx, other.ID, store.UIDSet{{Start: 1, Stop: 5}}); err != nil {
		t.Fatal(err)
	}
	compareSearches(t, r, a, other.ID, searches/3, "copies after expunge")

	// Every index row belongs to a live contents row.
	var contents int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM contents`).Scan(&contents); err != nil {
		t.Fatal(err)
	}
	for _, table := range textIndexTables {
		var rows int
		if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != contents {
			t.Fatalf("%d %s rows for %d contents", rows, table, contents)
		}
	}

	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	compareSearches(t, r, a, inbox.ID, searches, "after reindex")
	assertClean(t, s, "alice")
}

// A message whose text is longer than the index keeps is found anyway:
// the index names it as undecided and the scan decides.
func TestTextIndexPartial(t *testing.T) {
	_, a := newAccount(t)
	ctx := context.Background()
	inbox := mustMailbox(t, a, "INBOX")
	big := "Subject: big\r\n\r\n" + strings.Repeat("filler text ", message.MaxIndexedBody/12+10) + "needle-at-the-end\r\n"
	small := "Subject: small\r\n\r\nnothing here\r\n"
	for _, m := range []string{big, small} {
		if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(m)}}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "needle-at-the-end", store.UIDSet{{Start: 1, Stop: 10}})
	if err != nil || !h.OK || !h.Sure.Empty() || h.Maybe.String() != "1" {
		t.Fatalf("hits %+v, %v", h, err)
	}
	got, _ := evalSearch(t, a, inbox.ID, parseProgram(t, `BODY "needle-at-the-end"`), true)
	if got.String() != "1" {
		t.Fatalf("BODY found %v", got)
	}
	// Its headers are indexed whole: SUBJECT is decided by the index.
	h, err = a.SearchText(ctx, inbox.ID, store.TextSubject, "big", store.UIDSet{{Start: 1, Stop: 10}})
	if err != nil || h.Sure.String() != "1" {
		t.Fatalf("subject hits %+v, %v", h, err)
	}
}

// TestTextIndexSmallMailbox: a search in a mailbox much smaller than the
// account is restricted to the contents ids its messages hold (first to
// last), and still finds a copy of an old message at the low end and a
// new one at the high end, and none of the other mailbox's matches in
// between; a UID range holding no message answers nothing.
func TestTextIndexSmallMailbox(t *testing.T) {
	_, a := newAccount(t)
	ctx := context.Background()
	inbox := mustMailbox(t, a, "INBOX")
	appendText := func(id store.MailboxID, from, n int) {
		t.Helper()
		var msgs []store.NewMessage
		for i := from; i < from+n; i++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader("Subject: note " + strconv.Itoa(i) + "\r\n\r\nshared walrus text\r\n")})
		}
		if _, err := a.Append(ctx, id, msgs); err != nil {
			t.Fatal(err)
		}
	}
	appendText(inbox.ID, 0, 20)
	if _, err := a.CreateMailbox(ctx, "Small", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	small := mustMailbox(t, a, "Small")
	if _, err := a.Copy(ctx, inbox.ID, small.ID, store.UIDSet{{Start: 2, Stop: 2}}); err != nil {
		t.Fatal(err)
	}
	appendText(inbox.ID, 20, 20)
	appendText(small.ID, 40, 1)
	all := store.UIDSet{{Start: 1, Stop: 100}}
	for _, c := range []struct {
		field  store.TextField
		needle string
		within store.UIDSet
		want   string
	}{
		{store.TextBody, "walrus", all, "1:2"},
		{store.TextText, "walrus", all, "1:2"},
		{store.TextSubject, "note 1", all, "1"}, // "note 1", not INBOX's "note 10" to "note 19"
		{store.TextText, "note 40", all, "2"},   // in the header only
		{store.TextText, "subject: note", all, "1:2"},
		{store.TextBody, "note 40", all, ""},
		{store.TextSubject, "note 40", all, "2"},
		{store.TextBody, "walrus", store.UIDSet{{Start: 2, Stop: 2}}, "2"},
		{store.TextBody, "walrus", store.UIDSet{{Start: 3, Stop: 50}}, ""},
	} {
		h, err := a.SearchText(ctx, small.ID, c.field, c.needle, c.within)
		if err != nil || !h.OK || h.Sure.String() != c.want || !h.Maybe.Empty() {
			t.Errorf("%d %q in %v: %+v, %v; want %s", c.field, c.needle, c.within, h, err, c.want)
		}
	}
	h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "walrus", all)
	if err != nil || h.Sure.String() != "1:40" {
		t.Fatalf("INBOX: %+v, %v", h, err)
	}
	// TEXT in a mailbox holding most of the account: the header's and
	// the body's matches merged.
	h, err = a.SearchText(ctx, inbox.ID, store.TextText, "note 1", all)
	if err != nil || h.Sure.String() != "2,11:20" {
		t.Fatalf("INBOX TEXT: %+v, %v", h, err)
	}
}

func TestUnionSorted(t *testing.T) {
	for _, c := range []struct{ a, b, want []int64 }{
		{nil, nil, []int64{}},
		{[]int64{1, 3}, nil, []int64{1, 3}},
		{nil, []int64{2}, []int64{2}},
		{[]int64{1, 3, 5, 9}, []int64{2, 3, 9, 10}, []int64{1, 2, 3, 5, 9, 10}},
	} {
		if got := unionSorted(c.a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("unionSorted(%v, %v) = %v", c.a, c.b, got)
		}
	}
}

// An upgraded database has an index marked missing: searches scan until
// Reindex builds it; messages appended meanwhile are indexed at once.
func TestTextIndexUpgrade(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	r := rand.New(rand.NewPCG(3, 3))
	appendRandom(t, r, a, inbox.ID, 20)
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV7, `PRAGMA user_version = 6`)...)

	s = openStore(t, dir, Options{})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	all := store.UIDSet{{Start: 1, Stop: 100}}
	if h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "alpha", all); err != nil || h.OK {
		t.Fatalf("before reindex: %+v, %v", h, err)
	}
	appendRandom(t, r, a, inbox.ID, 5)
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "alpha", all); err != nil || !h.OK {
		t.Fatalf("after reindex: %+v, %v", h, err)
	}
	compareSearches(t, r, a, inbox.ID, 60, "after upgrade and reindex")
	assertClean(t, s, "alice")
}

// Strings shorter than three characters, or holding the separator, are
// not sent to the index.
func TestIndexableNeedle(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		fold string
	}{
		{"ab", false, "ab"}, {"ABC", true, "abc"}, {"日本", false, "日本"}, {"日本語", true, "日本語"},
		{"x\uFFFFy", false, "x\uFFFFy"}, {"STRASSE", true, "strasse"},
	} {
		f, ok := message.IndexableNeedle(c.in)
		if ok != c.ok || f != c.fold {
			t.Errorf("IndexableNeedle(%q) = %q, %v", c.in, f, ok)
		}
	}
}

// compareServed checks n random searches answered as the server answers
// them (from the index where it answers, else by the scan) against the
// scan alone.
func compareServed(t *testing.T, r *rand.Rand, a *Account, id store.MailboxID, n int, stage string) {
	t.Helper()
	for range n {
		key := messagetest.SearchKey(r)
		want, _ := evalSearch(t, a, id, parseProgram(t, key), false)
		got, _ := evalSearchAs(t, a, id, parseProgram(t, key), true, false)
		if got.String() != want.String() {
			t.Fatalf("%s: %q: served %v, scan %v", stage, key, got, want)
		}
	}
}

// textIndexState returns meta.text_index_missing_upto, the number of
// text_body rows and of contents rows.
func textIndexState(t *testing.T, a *Account) (missing int64, rows, contents int) {
	t.Helper()
	db := a.u.r
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'text_index_missing_upto'`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM text_body`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM contents`).Scan(&contents); err != nil {
		t.Fatal(err)
	}
	return missing, rows, contents
}

// TestTextIndexOnOffOn: a store written with the index on, then off
// (Options.NoTextIndex), then on again. Off, appends write no index rows
// and mark their contents missing, so searches scan; expunging drops the
// rows of indexed contents, so a contents id freed and taken again by a
// message appended with the index off is never answered for by the old
// text. Back on, new messages are indexed, searches keep scanning until
// Reindex, and then the index answers, equal to the scan, at every step.
func TestTextIndexOnOffOn(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 17))
	dir := t.TempDir()
	ctx := context.Background()
	open := func(off bool) (*Store, *Account) {
		s := openStore(t, dir, Options{NoTextIndex: off})
		a, err := s.openAccount(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return s, a
	}
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, a := open(false)
	inbox := mustMailbox(t, a, "INBOX")
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}}
	appendRandom(t, r, a, inbox.ID, 20)
	// The last message's contents row has the largest id: expunged below,
	// with the index off, its id is free for the next append.
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: first\r\n\r\nzanzibar-original\r\n")}}); err != nil {
		t.Fatal(err)
	}
	compareSearches(t, r, a, inbox.ID, 60, "on")
	if m, rows, n := textIndexState(t, a); m != 0 || rows != n {
		t.Fatalf("on: missing_upto %d, %d index rows for %d contents", m, rows, n)
	}
	a.Close()
	s.Close()

	s, a = open(true)
	appendRandom(t, r, a, inbox.ID, 15)
	m, rows, n := textIndexState(t, a)
	if rows != 21 || n != 36 || m != 36 {
		t.Fatalf("off: missing_upto %d, %d index rows for %d contents; want 36, 21, 36", m, rows, n)
	}
	if h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "zanzibar-original", all); err != nil || h.OK {
		t.Fatalf("off: index answered: %+v, %v", h, err)
	}
	compareServed(t, r, a, inbox.ID, 60, "off")
	// Expunge the last contents (no index row) and the one before them
	// with an index row, then append with the same freed ids.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 21, Stop: 21}, {Start: 30, Stop: 36}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: second\r\n\r\nzanzibar-replacement\r\n")}}); err != nil {
		t.Fatal(err)
	}
	appendRandom(t, r, a, inbox.ID, 10)
	if _, rows, _ := textIndexState(t, a); rows != 20 {
		t.Fatalf("off, after expunge: %d index rows, want 20", rows)
	}
	compareServed(t, r, a, inbox.ID, 60, "off, after expunge")
	a.Close()
	s.Close()

	s, a = open(false)
	defer func() { a.Close() }()
	appendRandom(t, r, a, inbox.ID, 10)
	m, rows, n = textIndexState(t, a)
	if m == 0 || rows != 30 {
		t.Fatalf("on again: missing_upto %d, %d index rows (%d contents); want the mark kept and 30 rows", m, rows, n)
	}
	for _, needle := range []string{"zanzibar-original", "zanzibar-replacement"} {
		if h, err := a.SearchText(ctx, inbox.ID, store.TextBody, needle, all); err != nil || h.OK {
			t.Fatalf("on again, before reindex: index answered %q: %+v, %v", needle, h, err)
		}
	}
	got, _ := evalSearchAs(t, a, inbox.ID, parseProgram(t, "BODY zanzibar"), true, false)
	compareServed(t, r, a, inbox.ID, 60, "on again")
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if m, rows, n := textIndexState(t, a); m != 0 || rows != n {
		t.Fatalf("after reindex: missing_upto %d, %d index rows for %d contents", m, rows, n)
	}
	if again, _ := evalSearch(t, a, inbox.ID, parseProgram(t, "BODY zanzibar"), true); again.String() != got.String() || got.Len() != 1 {
		t.Fatalf("BODY zanzibar: %v before reindex, %v after; want the one replacement", got, again)
	}
	compareSearches(t, r, a, inbox.ID, 60, "on again, after reindex")
	assertClean(t, s, "alice")
	a.Close()
	s.Close()

	// Reindex with the index off builds it, and the next append marks
	// its contents missing again: the index never claims a message it
	// lacks.
	s, a = open(true)
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "zanzibar-replacement", all); err != nil || !h.OK || h.Sure.Len() != 1 {
		t.Fatalf("off, after reindex: %+v, %v", h, err)
	}
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: third\r\n\r\nzanzibar-late\r\n")}}); err != nil {
		t.Fatal(err)
	}
	if h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "zanzibar-late", all); err != nil || h.OK {
		t.Fatalf("off, append after reindex: index answered: %+v, %v", h, err)
	}
	compareServed(t, r, a, inbox.ID, 30, "off, after reindex and append")
}

// TestTextIndexContentMap: in a mailbox holding most of the account, the
// matches' content ids are turned into UIDs by the mailbox's map held in
// memory (textmap.go). The map must follow every change: a copy into the
// same mailbox (two UIDs of one content, out of content order), an
// expunge, a flag change, a copy to another mailbox of the same account
// and an append there, whose messages must never be answered for this
// one. The needle is decoded text (base64, quoted-printable, Latin-1).
func TestTextIndexContentMap(t *testing.T) {
	_, a := newAccount(t)
	ctx := context.Background()
	inbox := mustMailbox(t, a, "INBOX")
	needle, ok := message.IndexableNeedle("GRÜSSE aus")
	if !ok {
		t.Fatal("needle not indexable")
	}
	bodies := []string{
		"Subject: b64\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"R3LDvFNTRSBhdXMgS8O2bG4K\r\n", // "GrüSSE aus Köln"
		"Subject: qp\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Viele Gr=C3=BCsse aus Bonn\r\n",
		"Subject: none\r\n\r\nnothing to see\r\n",
		"Subject: latin\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"gr\xfcsse aus Wien\r\n",
	}
	appendBodies := func(id store.MailboxID, bs ...string) {
		t.Helper()
		var msgs []store.NewMessage
		for _, b := range bs {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(b)})
		}
		if _, err := a.Append(ctx, id, msgs); err != nil {
			t.Fatal(err)
		}
	}
	all := store.UIDSet{{Start: 1, Stop: 100}}
	check := func(stage string, id store.MailboxID, within store.UIDSet, want string) {
		t.Helper()
		h, err := a.SearchText(ctx, id, store.TextBody, needle, within)
		if err != nil || !h.OK || h.Sure.String() != want || !h.Maybe.Empty() {
			t.Fatalf("%s: %+v, %v; want %s", stage, h, err, want)
		}
		if a.u.cmaps.Held(id) == nil {
			t.Fatalf("%s: answered without the content map", stage)
		}
	}
	appendBodies(inbox.ID, bodies...)
	check("appended", inbox.ID, all, "1:2,4")
	if _, err := a.Copy(ctx, inbox.ID, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	check("copied into itself", inbox.ID, all, "1:2,4:5")
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	check("original expunged", inbox.ID, all, "2,4:5")
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 2}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	check("flagged", inbox.ID, all, "2,4:5")
	check("within", inbox.ID, store.UIDSet{{Start: 3, Stop: 4}, {Start: 6, Stop: 9}}, "4")

	if _, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := mustMailbox(t, a, "Other")
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSet{{Start: 2, Stop: 5}}); err != nil {
		t.Fatal(err)
	}
	check("other mailbox", other.ID, all, "1,3:4")
	appendBodies(other.ID, bodies[1], bodies[2])
	check("appended to the other", other.ID, all, "1,3:5")
	check("INBOX unchanged", inbox.ID, all, "2,4:5")
	if _, err := a.Expunge(ctx, other.ID, store.UIDSet{{Start: 1, Stop: 5}}); err != nil {
		t.Fatal(err)
	}
	check("other emptied", other.ID, all, "")
	check("INBOX after the other's expunge", inbox.ID, all, "2,4:5")
}

// segments returns how many segments each text index table has.
func segments(t *testing.T, a *Account) []int {
	t.Helper()
	n := make([]int, len(textIndexTables))
	for i, table := range textIndexTables {
		s, err := textSegments(context.Background(), a.u.r, table)
		if err != nil {
			t.Fatal(err)
		}
		n[i] = s
	}
	return n
}

// TestTextIndexMerge: the incremental merge (textmerge.go) leaves fewer
// segments, and every search through the index still equals the scan
// after it, after expunges that leave deleted rows in merged segments,
// and across two mailboxes of the account. In a store with
// Options.TextMergeIdle the merge runs by itself once no commit comes.
func TestTextIndexMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 11))
	searches := envInt("TIDEMARK_TEXT_SEARCHES", 150)
	_, a := newAccountWith(t, Options{InlineBodyMax: 1500})
	ctx := context.Background()
	inbox := mustMailbox(t, a, "INBOX")
	if _, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := mustMailbox(t, a, "Other")
	// One segment per append transaction.
	for i := range 24 {
		appendRandom(t, r, a, []store.MailboxID{inbox.ID, other.ID}[i%3/2], 3)
	}
	before := segments(t, a)
	if before[0] < 4 {
		t.Fatalf("only %v segments before merging", before)
	}
	merge := func() {
		t.Helper()
		for steps := 0; ; steps++ {
			worked, err := a.u.mergeTextStep(ctx, 2) // small steps: merges span transactions
			if err != nil {
				t.Fatal(err)
			}
			if !worked {
				break
			}
			if steps > 10000 {
				t.Fatal("merge does not end")
			}
		}
	}
	merge()
	after := segments(t, a)
	for i := range after {
		if after[i] >= before[i] {
			t.Fatalf("segments %v before merging, %v after", before, after)
		}
	}
	t.Logf("segments %v before merging, %v after", before, after)
	compareSearches(t, r, a, inbox.ID, searches, "merged")
	compareSearches(t, r, a, other.ID, searches/3, "merged, other mailbox")

	var gone store.UIDSet
	for u := store.UID(1); u <= 60; u++ {
		if r.IntN(3) == 0 {
			gone.Add(u)
		}
	}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		appendRandom(t, r, a, inbox.ID, 2)
	}
	merge()
	compareSearches(t, r, a, inbox.ID, searches, "expunged, appended, merged")
	compareSearches(t, r, a, other.ID, searches/3, "expunged, appended, merged, other mailbox")

	// The background merge.
	_, b := newAccountWith(t, Options{TextMergeIdle: 10 * time.Millisecond})
	binbox := mustMailbox(t, b, "INBOX")
	for range 12 {
		appendRandom(t, r, b, binbox.ID, 2)
	}
	deadline := time.Now().Add(time.Minute)
	// At most one segment per level is left (usermerge 2); the twelve
	// appends' segments, of each table's own sizes, make up to three.
	for n := segments(t, b); slices.Max(n) > 3; n = segments(t, b) {
		if time.Now().After(deadline) {
			t.Fatalf("background merge left %v segments", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	compareSearches(t, r, b, binbox.ID, searches/3, "merged in the background")
}
