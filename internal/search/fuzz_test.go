package search

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// FuzzParseSearch feeds arbitrary bytes to the search-program parser.
// Whatever the input it must not panic, its errors for bad input must be
// syntax errors (*wire.Error), and a program it accepts must print in a
// form that parses back to the same program. The parsed tree is also
// evaluated against a message, which must not panic either.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{
		"ALL",
		"CHARSET UTF-8 OR (SEEN FLAGGED) NOT 1:*,$ UID 4:7",
		`FROM "smith" SINCE 1-Feb-1994 NOT TEXT {3}` + "\r\nabc",
		`HEADER Message-ID "<a@b>" LARGER 100 SMALLER 9999 KEYWORD $Junk`,
		`MODSEQ "/flags/\\draft" all 620162338 OLDER 5 YOUNGER 10`,
		`NOT NOT NOT (((OR SEEN DELETED)))`,
		`SENTON "1-jan-2000" SAVEDSINCE 2-Feb-2002 EMAILID M1 THREADID T2`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	st := store.MessageState{UID: 3, ModSeq: 9, Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"k"}}}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := wire.Limits{MaxLine: 2000, MaxLiteral: 200, MaxLiterals: 8, MaxDepth: 16}
		d := wire.NewDecoder(bufio.NewReader(bytes.NewReader(append(in, "\r\n"...))), lim)
		d.Begin()
		d.OnSyncLiteral = func(int64) error { return nil }
		p, err := Parse(d, "")
		if err == nil {
			err = d.CRLF()
		}
		if err != nil {
			// The only non-syntax ending allowed: the input stopped inside
			// a literal it announced (the bytes end, so a reader would
			// wait for more). Anything else must be a *wire.Error.
			var we *wire.Error
			if errors.As(err, &we) {
				return
			}
			if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && bytes.Contains(in, []byte("{")) {
				return
			}
			t.Fatalf("%q: error %v (%T) is neither a syntax error nor the end of a literal", in, err, err)
		}
		printed := p.String()
		d2 := wire.NewDecoder(bufio.NewReader(bytes.NewReader([]byte(printed+"\r\n"))), wire.Limits{MaxDepth: 1000})
		d2.Begin()
		p2, err := Parse(d2, "")
		if err == nil {
			err = d2.CRLF()
		}
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", in, printed, err)
		}
		if again := p2.String(); again != printed {
			t.Fatalf("%q printed as %q, then as %q", in, printed, again)
		}
		if err := p.Resolve(func(set wire.SeqSet, uid bool) (store.UIDSet, error) { return set.Resolve(10), nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Match(&Message{State: &st}, now); err != nil {
			t.Fatal(err)
		}
		p.Narrow(store.UIDSet{{Start: 1, Stop: 10}})
	})
}
