package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/textwords"
)

// The word index: a second way to answer BODY for needles made of word
// characters only, exact and much cheaper than the trigram phrase when
// the needle is common.
//
// Words are those of package textwords: "the body contains a needle of
// word characters" is "one of the body's words contains the needle". The
// index is two parts:
//
//   - text_words: every word of three characters or more any body has
//     held (a needle of three or more never lies in a shorter one), with a
//     trigram FTS5 index of its own (text_words_trigrams), so the words
//     holding a needle are one phrase query over the vocabulary instead of
//     over the mail;
//   - text_body_words: per contents row, its body's distinct words, in an
//     FTS5 table with detail=none: doc ids only, no positions, a common
//     word's postings a fraction of the size of its trigrams' position
//     lists, and no phrase to check.
//
// A search asks the vocabulary for the needle's words, and if there are
// at most maxNeedleWords, text_body_words for the contents holding any of
// them (one OR query); more (a needle such as "the", inside thousands of
// words) and the trigram phrase answers as before.
//
// The words of a row are written as one string, apart by spaces, into a
// table with FTS5's ascii tokenizer, which splits exactly at ASCII
// characters other than letters and digits and folds ASCII upper case (of
// which folded text has none): so FTS5's tokens are exactly the words
// split here, and a query term quoted is the word itself.
//
// Words are never removed from the vocabulary when the last message
// holding them goes: a word no row holds matches nothing, and Reindex
// starts the vocabulary anew.
//
// meta.text_words_missing_upto: contents up to it may lack their words
// (a database upgraded to schema 17 holding mail): their BODY is answered
// by the trigram phrase, those above by the words. Reindex writes every
// row's words and drops the mark.
const schemaV17TextWords = `
CREATE TABLE text_words (
	id   INTEGER PRIMARY KEY,
	word TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE text_words_trigrams USING fts5(word,
	tokenize = 'trigram case_sensitive 1', content = '');
CREATE TRIGGER text_words_add AFTER INSERT ON text_words BEGIN
	INSERT INTO text_words_trigrams (rowid, word) VALUES (new.id, new.word);
END;
CREATE VIRTUAL TABLE text_body_words USING fts5(words,
	tokenize = 'ascii', detail = none, content = '', contentless_delete = 1);
`

const textWordsMissingKey = "text_words_missing_upto"

// maxNeedleWords bounds the words one search asks text_body_words for:
// each is a lookup in every segment of the index, and past a few hundred
// the trigram phrase is as cheap.
const maxNeedleWords = 256

// migrateV16TextWords adds the word index; the contents already stored
// are marked as lacking their words.
func migrateV16TextWords(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, schemaV17TextWords); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value)
		SELECT '`+textWordsMissingKey+`', max(id) FROM contents HAVING max(id) IS NOT NULL`)
	return err
}

// wordRows collects the word rows of a batch of contents.
type wordRows struct {
	rows  *rowsInsert
	vocab map[string]struct{}
}

func newWordRows() *wordRows {
	return &wordRows{rows: newRowsInsert(`text_body_words (rowid, words)`, 2), vocab: make(map[string]struct{})}
}

func (w *wordRows) add(id int64, body string) {
	words := textwords.Words(body)
	for _, v := range words {
		w.vocab[v] = struct{}{}
	}
	w.rows.add(id, strings.Join(words, " "))
}

// exec writes the rows and the words the vocabulary lacks, the latter as
// one statement over a JSON array (no limit on bound parameters).
func (w *wordRows) exec(t *writeTx) error {
	if len(w.vocab) > 0 {
		list := make([]string, 0, len(w.vocab))
		for v := range w.vocab {
			list = append(list, v)
		}
		js, err := json.Marshal(list)
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO text_words (word) SELECT value FROM json_each(?) WHERE true
			ON CONFLICT (word) DO NOTHING`, string(js)); err != nil {
			return err
		}
	}
	return w.rows.exec(t)
}

// textWordsMissing returns the mark above (0: none).
func textWordsMissing(ctx context.Context, q querier) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = '`+textWordsMissingKey+`'), 0)`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("text index: %w", err)
	}
	return v, nil
}

// needleWords returns the FTS5 query of text_body_words equivalent to the
// phrase of needle, "" when no word holds it, and ok false when too many
// do.
func needleWords(ctx context.Context, q querier, needle string) (query string, ok bool, err error) {
	rows, err := q.QueryContext(ctx, `SELECT w.word FROM text_words_trigrams AS t
		CROSS JOIN text_words AS w ON w.id = t.rowid
		WHERE text_words_trigrams MATCH ? LIMIT ?`, ftsPhrase("", needle), maxNeedleWords+1)
	if err != nil {
		return "", false, fmt.Errorf("text index: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	n := 0
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			return "", false, fmt.Errorf("text index: %w", err)
		}
		if n++; n > maxNeedleWords {
			return "", false, nil
		}
		if b.Len() > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(`"` + w + `"`) // a word holds no quote
	}
	if err := rows.Err(); err != nil {
		return "", false, fmt.Errorf("text index: %w", err)
	}
	return b.String(), true, nil
}

// wordSources returns the sources of a BODY or TEXT search of a word
// needle: text_body's phrase replaced by text_body_words's words for the
// contents above the missing mark (all when there is none), sources
// unchanged when too many words hold the needle.
func wordSources(ctx context.Context, q querier, sources []textSource, needle string) ([]textSource, error) {
	query, ok, err := needleWords(ctx, q, needle)
	if err != nil || !ok {
		return sources, err
	}
	missing, err := textWordsMissing(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []textSource
	for _, src := range sources {
		if src.table != "text_body" || src.upto != 0 {
			out = append(out, src)
			continue
		}
		if missing > 0 {
			out = append(out, textSource{table: "text_body", after: 0, upto: missing})
		}
		if query != "" {
			out = append(out, textSource{table: "text_body_words", after: missing, upto: math.MaxInt64, match: query})
		}
	}
	return out, nil
}

// wordsBackfilling reports whether an upgraded store's words wait to be
// written behind: a missing mark, over an index otherwise complete (an
// index never built is Reindex's to build, words and all).
func wordsBackfilling(ctx context.Context, q querier) (mark int64, err error) {
	var unindexed int64
	err = q.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = '`+textWordsMissingKey+`'), 0),
		coalesce((SELECT value FROM meta WHERE key = 'text_index_missing_upto'), 0)`).Scan(&mark, &unindexed)
	if err != nil {
		return 0, fmt.Errorf("text index: %w", err)
	}
	if unindexed != 0 {
		return 0, nil
	}
	return mark, nil
}

// wordsStep writes the words of up to behindBatch contents at or below
// the missing mark, the newest first (the mail a client searches first),
// computed from the stored messages outside the write transaction, and
// lowers the mark below them; the mark goes when none remain. Searches
// stay exact at every step: contents at or below the mark answer from
// the trigram phrase, those above from their words. A row the schema 16
// conversion already gave words (it writes them beside the body) gets
// them again, its old ones deleted first.
func (u *userDB) wordsStep(ctx context.Context) (more bool, behind int64, err error) {
	var batch textRun
	var mark int64
	err = u.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if mark, err = wordsBackfilling(ctx, tx); err != nil || mark == 0 {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, blob_id, structure FROM contents WHERE id <= ? ORDER BY id DESC LIMIT ?`, mark, behindBatch)
		if err != nil {
			return err
		}
		batch, err = u.readTextRun(ctx, rows)
		return err
	})
	if err != nil || mark == 0 {
		return false, 0, err
	}
	err = u.write(ctx, func(t *writeTx) error {
		now, err := wordsBackfilling(ctx, t.tx)
		if err != nil || now != mark {
			more = now != 0 // moved by Reindex meanwhile: read again
			return err
		}
		live, err := batch.live(ctx, t.tx)
		if err != nil {
			return err
		}
		ids, err := json.Marshal(live.ids)
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM text_body_words WHERE rowid IN (SELECT value FROM json_each(?))`, string(ids)); err != nil {
			return err
		}
		words := newWordRows()
		for i, id := range live.ids {
			if x := live.texts[i]; x != nil {
				words.add(id, x.Body)
			}
		}
		if err := words.exec(t); err != nil {
			return err
		}
		if len(batch.ids) < behindBatch {
			_, err := t.tx.ExecContext(ctx, `DELETE FROM meta WHERE key = '`+textWordsMissingKey+`'`)
			return err
		}
		more = true
		_, err = t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = '`+textWordsMissingKey+`'`, batch.ids[len(batch.ids)-1]-1)
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("text index words: %w", err)
	}
	// Nothing a search waits for: the indexer keeps giving way to
	// appends however many words remain.
	return more, 0, nil
}
