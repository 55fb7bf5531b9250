package search

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// parse reads a program from one command line (CRLF added) and checks
// that the parser stopped exactly at its end.
func parse(t testing.TB, line string) (*Program, error) {
	t.Helper()
	d := wire.NewDecoder(bufio.NewReader(strings.NewReader(line+"\r\n")), wire.Limits{})
	d.Begin()
	d.OnSyncLiteral = func(int64) error { return nil }
	p, err := Parse(d, "")
	if err != nil {
		return nil, err
	}
	if err := d.CRLF(); err != nil {
		return nil, err
	}
	return p, nil
}

func TestParseCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ALL", "ALL"},
		{"all", "ALL"},
		{"1:3,5 UID 7:*", "1:3,5 UID 7:*"},
		{"$", "$"},
		{"UID $", "UID $"},
		{"SEEN UNSEEN ANSWERED UNANSWERED DELETED UNDELETED DRAFT UNDRAFT FLAGGED UNFLAGGED",
			"SEEN UNSEEN ANSWERED UNANSWERED DELETED UNDELETED DRAFT UNDRAFT FLAGGED UNFLAGGED"},
		{"NEW OLD RECENT", "(RECENT UNSEEN) NOT RECENT RECENT"},
		{`KEYWORD $Junk UNKEYWORD foo`, `KEYWORD $Junk UNKEYWORD foo`},
		{`LARGER 10 SMALLER 9223372036854775807`, `LARGER 10 SMALLER 9223372036854775807`},
		{`BEFORE 1-Feb-1994 ON "01-feb-1994" SINCE 1-FEB-1994`, `BEFORE 1-Feb-1994 ON 1-Feb-1994 SINCE 1-Feb-1994`},
		{`SENTBEFORE 3-Mar-2020 SENTON 3-Mar-2020 SENTSINCE 3-Mar-2020`, `SENTBEFORE 3-Mar-2020 SENTON 3-Mar-2020 SENTSINCE 3-Mar-2020`},
		{`SAVEDBEFORE 3-Mar-2020 SAVEDON 3-Mar-2020 SAVEDSINCE 3-Mar-2020 SAVEDATESUPPORTED`, `SAVEDBEFORE 3-Mar-2020 SAVEDON 3-Mar-2020 SAVEDSINCE 3-Mar-2020 ALL`},
		{`OLDER 60 YOUNGER 3600`, `OLDER 60 YOUNGER 3600`},
		{`FROM smith TO "a b" CC {3}` + "\r\nx\"y" + ` BCC "" SUBJECT "q\\"`, `FROM "smith" TO "a b" CC "x\"y" BCC "" SUBJECT "q\\"`},
		{`BODY b TEXT t HEADER Message-ID "<x@y>"`, `BODY "b" TEXT "t" HEADER "Message-ID" "<x@y>"`},
		{`NOT SEEN`, `NOT SEEN`},
		{`OR SEEN (FLAGGED OR 1 UID 2)`, `OR SEEN (FLAGGED OR 1 UID 2)`},
		{`NOT NOT (ALL)`, `NOT NOT (ALL)`},
		{`MODSEQ 0`, `MODSEQ 0`},
		{`MODSEQ "/flags/\\draft" all 620162338`, `MODSEQ "/flags/\\draft" all 620162338`},
		{`EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9`, `EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9`},
		{`CHARSET UTF-8 TEXT "отпуск"`, `CHARSET "UTF-8" TEXT "отпуск"`},
	} {
		p, err := parse(t, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := p.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"FOO",
		"SEEN  UNSEEN",
		"NOT",
		"OR SEEN",
		"()",
		"(SEEN",
		"UID",
		"UID x",
		"0",
		"LARGER -1",
		"LARGER x",
		"BEFORE 31-Foo-2020",
		"BEFORE 2020-01-01",
		"KEYWORD \\Seen",
		"HEADER \"a:b\" x",
		"MODSEQ \"/nope\" all 1",
		"MODSEQ \"/flags/\\\\seen\" every 1",
		"OLDER 0",
		"EMAILID a.b",
		"CHARSET",
		"SUBJECT \"unterminated",
		"TEXT \"x\" )",
		strings.Repeat("NOT ", MaxDepth+2) + "ALL",
	} {
		p, err := parse(t, in)
		if err == nil {
			t.Errorf("%q parsed as %s", in, p)
			continue
		}
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("%q: error %v is not a syntax error", in, err)
		}
	}
}

func TestCheckCharset(t *testing.T) {
	for cs, ok := range map[string]bool{"": true, "utf-8": true, "US-ASCII": true, "KOI8-R": false, "iso-8859-1": false} {
		p := &Program{Charset: cs, Key: &Key{Op: OpAll}}
		err := p.CheckCharset()
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadCharset)) {
			t.Errorf("charset %q: %v", cs, err)
		}
	}
}

func TestLevelsAndModSeq(t *testing.T) {
	for _, tc := range []struct {
		in     string
		level  Level
		modseq bool
	}{
		{"UNSEEN FLAGGED 1:* UID 3 KEYWORD x", LevelState, false},
		{"OR SEEN MODSEQ 5", LevelState, true},
		{"NOT SUBJECT x", LevelData, false},
		{"LARGER 5 (OR SEEN BODY x)", LevelBody, false},
		{"HEADER X-A \"\"", LevelBody, false},
	} {
		p, err := parse(t, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if p.Need() != tc.level || p.HasModSeq() != tc.modseq {
			t.Errorf("%s: level %d modseq %v", tc.in, p.Need(), p.HasModSeq())
		}
	}
}

func TestNarrow(t *testing.T) {
	p, err := parse(t, "UID 1:10 OR 2 UID 8:20 SEEN")
	if err != nil {
		t.Fatal(err)
	}
	// Sequence numbers n map to UID 10n for this test.
	err = p.Resolve(func(set wire.SeqSet, uid bool) (store.UIDSet, error) {
		r := set.Resolve(100)
		if uid {
			return r, nil
		}
		var out store.UIDSet
		for _, u := range r.UIDs() {
			out.Add(u * 10)
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	universe := store.UIDSet{{Start: 1, Stop: 50}}
	if got := p.Narrow(universe).String(); got != "8:10" {
		t.Fatalf("narrowed to %s", got)
	}
	if got := Intersect(store.UIDSet{{Start: 1, Stop: 5}, {Start: 9, Stop: 12}}, store.UIDSet{{Start: 3, Stop: 10}, {Start: 12, Stop: 20}}).String(); got != "3:5,9:10,12" {
		t.Fatalf("intersect %s", got)
	}
	if got := Union(store.UIDSet{{Start: 1, Stop: 5}}, store.UIDSet{{Start: 6, Stop: 7}, {Start: 9, Stop: 9}}).String(); got != "1:7,9" {
		t.Fatalf("union %s", got)
	}
}
