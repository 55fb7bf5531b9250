package sqlitestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/textwords"
)

// undoV17 turns a current database back into schema version 16.
var undoV17 = []string{`DROP TRIGGER text_words_add`, `DROP TABLE text_words_trigrams`, `DROP TABLE text_words`,
	`DROP TABLE text_body_words`, `DELETE FROM meta WHERE key = '` + textWordsMissingKey + `'`}

// wordAnswered reports whether a BODY search of needle goes through the
// word index.
func wordAnswered(t *testing.T, a *Account, needle string) bool {
	t.Helper()
	if !textwords.IsNeedle(needle) {
		return false
	}
	ctx := context.Background()
	tx, err := a.u.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	sources, err := wordSources(ctx, tx, textSources[store.TextBody], needle)
	if err != nil {
		t.Fatal(err)
	}
	return !slices.ContainsFunc(sources, func(s textSource) bool { return s.table == "text_body" && s.upto == 0 })
}

// TestTextWords: BODY and TEXT of word needles (whole words, pieces of
// words, words no message holds) through the word index equal the scan,
// with a word in many messages, after expunges, and beside needles the
// trigram phrase answers.
func TestTextWords(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 17))
	_, a := newAccountWith(t, Options{InlineBodyMax: 1500})
	ctx := context.Background()
	inbox := mustMailbox(t, a, "INBOX")
	appendRandom(t, r, a, inbox.ID, 40)
	var msgs []store.NewMessage
	for _, body := range []string{
		"Subject: a\r\n\r\nThe Benchmark ran.\r\n",
		"Subject: b\r\n\r\nbenchmarks, benchmarking\r\n",
		"Subject: c\r\n\r\nbench mark\r\n",
		"Subject: d\r\nX-Note: benchmark in the header only\r\n\r\nnothing\r\n",
	} {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body)})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"benchmark", "enchmar", "bench", "zqzqzq", "mark"} {
		if !wordAnswered(t, a, needle) {
			t.Fatalf("%q not answered by the word index", needle)
		}
	}
	if wordAnswered(t, a, "bench mark") {
		t.Fatal("a needle with a space answered by the word index")
	}
	check := func(stage string) {
		t.Helper()
		for _, key := range []string{`BODY "benchmark"`, `TEXT "benchmark"`, `BODY "enchmar"`, `BODY "bench"`,
			`BODY "zqzqzq"`, `BODY "bench mark"`, `NOT BODY "benchmark"`, `OR BODY "marking" TEXT "header only"`} {
			want, _ := evalSearch(t, a, inbox.ID, parseProgram(t, key), false)
			got, opened := evalSearch(t, a, inbox.ID, parseProgram(t, key), true)
			if got.String() != want.String() || opened != 0 {
				t.Fatalf("%s: %s: index %v (%d read), scan %v", stage, key, got, opened, want)
			}
		}
		compareSearches(t, r, a, inbox.ID, 100, stage)
	}
	check("appended")
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 41, Stop: 41}, {Start: 1, Stop: 10}}); err != nil {
		t.Fatal(err)
	}
	check("expunged")
}

// version16With30 makes a version 16 database of 30 random messages and
// opens it (without the background indexer), upgraded to the word index.
func version16With30(t *testing.T, r *rand.Rand) (*Store, *Account, store.MailboxInfo, string) {
	t.Helper()
	dir := t.TempDir()
	s := openStore(t, dir, Options{InlineBodyMax: 1500})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendRandom(t, r, a, inbox.ID, 30)
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(slices.Clone(undoV17), `PRAGMA user_version = 16`)...)
	s = openStore(t, dir, Options{InlineBodyMax: 1500})
	a, err := s.openAccount(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return s, a, inbox, dir
}

// TestTextWordsUpgrade: a version 16 database gets the word index empty,
// its stored mail marked missing and searched by the trigram phrase, new
// mail by the words, until Reindex writes every row's words.
func TestTextWordsUpgrade(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 18))
	ctx := context.Background()
	s, a, inbox, _ := version16With30(t, r)
	defer a.Close()
	if m, err := textWordsMissing(ctx, a.u.r); err != nil || m != 30 {
		t.Fatalf("missing mark %d, %v; want 30", m, err)
	}
	compareSearches(t, r, a, inbox.ID, 60, "upgraded")
	appendRandom(t, r, a, inbox.ID, 10)
	compareSearches(t, r, a, inbox.ID, 60, "upgraded, appended")
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if m, err := textWordsMissing(ctx, a.u.r); err != nil || m != 0 {
		t.Fatalf("missing mark %d, %v after reindex", m, err)
	}
	compareSearches(t, r, a, inbox.ID, 60, "reindexed")
	assertIndexRows(t, s, a)
}

// TestTextWordsBehind: an upgraded store's words are written behind,
// newest first, in steps that each leave every search equal to the scan
// (expunges on both sides of the mark included); the background indexer
// finishes them, giving again the words of rows the schema 16 conversion
// wrote, without a duplicate row.
func TestTextWordsBehind(t *testing.T) {
	defer func(n int) { behindBatch = n }(behindBatch)
	behindBatch = 7
	r := rand.New(rand.NewPCG(textSeed(t), 19))
	ctx := context.Background()
	s, a, inbox, dir := version16With30(t, r)
	for step, want := range []int64{23, 16} {
		if more, _, err := a.u.wordsStep(ctx); err != nil || !more {
			t.Fatalf("step %d: %v, %v", step, more, err)
		}
		if m, err := textWordsMissing(ctx, a.u.r); err != nil || m != want {
			t.Fatalf("step %d: missing mark %d, %v; want %d", step, m, err, want)
		}
		compareSearches(t, r, a, inbox.ID, 40, fmt.Sprintf("words step %d", step))
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 5, Stop: 6}, {Start: 20, Stop: 21}}); err != nil {
		t.Fatal(err)
	}
	compareSearches(t, r, a, inbox.ID, 40, "half written, expunged")
	// As if the conversion had written the words of the rows below the
	// mark already: the backfill must replace them, not add to them.
	for _, q := range []string{`INSERT INTO text_words (word) VALUES ('zzqstale')`,
		`INSERT INTO text_body_words (rowid, words) SELECT id, 'zzqstale' FROM contents WHERE id <= 10`} {
		if _, err := a.u.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	s.Close()

	s = openStore(t, dir, Options{InlineBodyMax: 1500, TextIndexBehind: true})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if m, err := textWordsMissing(ctx, a.u.r); err != nil || m == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the words were not written behind")
		}
	}
	compareSearches(t, r, a, inbox.ID, 80, "words written behind")
	if got, _ := evalSearch(t, a, inbox.ID, parseProgram(t, "BODY zzqstale"), true); len(got) != 0 {
		t.Fatalf("words of before the backfill still answer: %v", got)
	}
	assertIndexRows(t, s, a)
}
