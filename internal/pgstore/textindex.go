package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/contentmap"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/textwords"
)

// The text index (store.TextSearcher) on PostgreSQL: per contents row, the
// folded text message.BuildIndexText computes (the same text the embedded
// store's FTS5 tables index) in tables by what a search reads (since
// schema version 18): text_index (body, partial), text_index_header
// (header), text_index_fields (subject, addr_from, addr_to, addr_cc,
// addr_bcc) and, since version 20, text_index_subjects (subject), each
// text column a search reads with a pg_trgm GIN index. A search is `column LIKE '%needle%'`: pg_trgm
// narrows the rows by the needle's trigrams and PostgreSQL rechecks each
// candidate against the stored text, so the answer is exact for every
// needle (folded on both sides by Go, so LIKE's case-sensitive
// comparison is SEARCH's case-insensitive one). Under the C locale
// pg_trgm takes trigrams only from ASCII letters and digits: a needle
// without three of them in a row is still answered exactly, by the
// recheck of every row the index cannot rule out, so more slowly. Rows
// go with their contents row (ON DELETE CASCADE, at reclamation); until
// then the content map (SearchText) leaves expunged messages out.
//
// text_index_state has a row per user whose older messages may lack their
// index rows (contents ids up to missing_upto: stored before the
// schema had the index, or a rebuild under way); while it exists the
// index answers nothing for that user and SEARCH scans. Reindex fills in
// what is missing and deletes it.
const schemaV9TextIndex = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE text_index (
	content_id bigint PRIMARY KEY REFERENCES contents ON DELETE CASCADE,
	partial    boolean NOT NULL,
	header     text NOT NULL,
	body       text NOT NULL,
	subject    text NOT NULL,
	addr_from  text NOT NULL,
	addr_to    text NOT NULL,
	addr_cc    text NOT NULL,
	addr_bcc   text NOT NULL
);
CREATE INDEX text_index_header ON text_index USING gin (header gin_trgm_ops);
CREATE INDEX text_index_body ON text_index USING gin (body gin_trgm_ops);
CREATE INDEX text_index_subject ON text_index USING gin (subject gin_trgm_ops);
CREATE INDEX text_index_from ON text_index USING gin (addr_from gin_trgm_ops);
CREATE INDEX text_index_to ON text_index USING gin (addr_to gin_trgm_ops);
CREATE INDEX text_index_cc ON text_index USING gin (addr_cc gin_trgm_ops);
CREATE INDEX text_index_bcc ON text_index USING gin (addr_bcc gin_trgm_ops);
CREATE TABLE text_index_state (
	user_id      bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
	missing_upto bigint NOT NULL
);
INSERT INTO text_index_state (user_id, missing_upto) SELECT user_id, max(id) FROM contents GROUP BY user_id;
`

// schemaV18TextTables splits the index by what a search reads, so that
// the rows a search rechecks hold only the text it compares: text_index
// keeps the body (and partial), stored uncompressed (STORAGE EXTERNAL:
// the recheck of a common word reads every candidate's body, and
// decompressing it cost more than the comparison), the top-level header
// moves to text_index_header and the short fields SUBJECT and the address
// keys read to text_index_fields. Before, a SUBJECT search rechecked rows
// that carried the header and body too, reading thousands of wide heap
// pages for a few thousand subjects. The rows are copied, not rebuilt from
// the messages; the body table is written anew (each body concatenated
// with the empty string, so stored uncompressed) and its trigram index
// built again, so the step takes about as long as building the index did.
const schemaV18TextTables = `
DROP INDEX text_index_header, text_index_subject, text_index_from, text_index_to, text_index_cc, text_index_bcc;
CREATE TABLE text_index_new (
	content_id bigint PRIMARY KEY REFERENCES contents ON DELETE CASCADE,
	partial    boolean NOT NULL,
	body       text NOT NULL
);
ALTER TABLE text_index_new ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE text_index_header (
	content_id bigint PRIMARY KEY REFERENCES contents ON DELETE CASCADE,
	header     text NOT NULL
);
CREATE TABLE text_index_fields (
	content_id bigint PRIMARY KEY REFERENCES contents ON DELETE CASCADE,
	subject    text NOT NULL,
	addr_from  text NOT NULL,
	addr_to    text NOT NULL,
	addr_cc    text NOT NULL,
	addr_bcc   text NOT NULL
);
INSERT INTO text_index_new (content_id, partial, body) SELECT content_id, partial, body || '' FROM text_index;
INSERT INTO text_index_header (content_id, header) SELECT content_id, header FROM text_index;
INSERT INTO text_index_fields (content_id, subject, addr_from, addr_to, addr_cc, addr_bcc)
	SELECT content_id, subject, addr_from, addr_to, addr_cc, addr_bcc FROM text_index;
DROP TABLE text_index;
ALTER TABLE text_index_new RENAME TO text_index;
ALTER INDEX text_index_new_pkey RENAME TO text_index_pkey;
ALTER TABLE text_index RENAME CONSTRAINT text_index_new_content_id_fkey TO text_index_content_id_fkey;
CREATE INDEX text_index_body ON text_index USING gin (body gin_trgm_ops);
CREATE INDEX text_index_partial_rows ON text_index (content_id) WHERE partial;
CREATE INDEX text_index_header_trgm ON text_index_header USING gin (header gin_trgm_ops);
CREATE INDEX text_index_fields_subject ON text_index_fields USING gin (subject gin_trgm_ops);
CREATE INDEX text_index_fields_from ON text_index_fields USING gin (addr_from gin_trgm_ops);
CREATE INDEX text_index_fields_to ON text_index_fields USING gin (addr_to gin_trgm_ops);
CREATE INDEX text_index_fields_cc ON text_index_fields USING gin (addr_cc gin_trgm_ops);
CREATE INDEX text_index_fields_bcc ON text_index_fields USING gin (addr_bcc gin_trgm_ops);
ANALYZE text_index, text_index_header, text_index_fields;
`

// schemaV20Subjects gives SUBJECT a table of its own, text_index_subjects
// (content_id, subject), with the trigram index that was on
// text_index_fields.subject: a SUBJECT search rechecks each candidate's
// row, and in text_index_fields that row also carries the four address
// fields (about 235 bytes against the subject's 25 on the corpus, 23.4 MB
// against 6.6 MB for 100,000 messages), so the recheck read 3.5 times the
// pages (docs/benchmarks.md). text_index_fields keeps its subject column
// (still written), without the index. Written so that applying it again
// changes nothing (the upgrade tests replay later steps).
const schemaV20Subjects = `
CREATE TABLE IF NOT EXISTS text_index_subjects (
	content_id bigint PRIMARY KEY REFERENCES contents ON DELETE CASCADE,
	subject    text NOT NULL
);
INSERT INTO text_index_subjects (content_id, subject) SELECT content_id, subject FROM text_index_fields
	ON CONFLICT (content_id) DO NOTHING;
CREATE INDEX IF NOT EXISTS text_index_subjects_trgm ON text_index_subjects USING gin (subject gin_trgm_ops);
DROP INDEX IF EXISTS text_index_fields_subject;
ANALYZE text_index_subjects;
`

// schemaV21Words adds the word index of BODY (package textwords): per
// contents row whose body was indexed whole, its distinct words
// (text_index_words, a GIN index of the array), and the vocabulary of
// every word any body held (text_words, with a trigram index). A BODY
// search of a needle of word characters looks up the words holding it in
// the vocabulary and the contents holding any of them in the array
// index, which answers exactly: no body is read to recheck it, the cost
// of a common word through text_index's trigrams. The vocabulary is
// shared by the users (it only names words; the contents found are
// mapped through the searching mailbox's content map) and never loses a
// word. text_words_missing: per user, the contents stored before this
// version (ids up to missing_upto), whose words Reindex writes; until
// then their BODY is answered by the trigram index. Written so that
// applying it again changes nothing.
const schemaV21Words = `
CREATE TABLE IF NOT EXISTS text_index_words (
	content_id bigint PRIMARY KEY REFERENCES contents ON DELETE CASCADE,
	words      text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS text_index_words_gin ON text_index_words USING gin (words);
CREATE TABLE IF NOT EXISTS text_words (
	word text PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS text_words_trgm ON text_words USING gin (word gin_trgm_ops);
CREATE TABLE IF NOT EXISTS text_words_missing (
	user_id      bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
	missing_upto bigint NOT NULL
);
INSERT INTO text_words_missing (user_id, missing_upto)
	SELECT c.user_id, max(c.id) FROM contents c
	WHERE NOT EXISTS (SELECT 1 FROM text_index_words w WHERE w.content_id = c.id)
	GROUP BY c.user_id
	ON CONFLICT (user_id) DO NOTHING;
`

// maxNeedleWords bounds the words one search asks text_index_words for;
// a needle inside more (such as "the") is answered by the trigrams.
const maxNeedleWords = 256

// bodyWords is the words of an indexed body as text_index_words holds
// them, apart by spaces (string_to_array on the server): "" for a body
// not indexed whole, which has no row there.
func bodyWords(x *message.IndexText) string {
	if x == nil || x.Partial {
		return ""
	}
	return strings.Join(textwords.Words(x.Body), " ")
}

// indexText computes p's index text from its structure and bytes; nil
// (indexed as partial: always a candidate) when they cannot be read.
func indexText(st *message.Structure, body io.ReaderAt) *message.IndexText {
	t, err := message.BuildIndexText(st, body)
	if err != nil {
		return nil
	}
	return &t
}

// storedText computes, inside a write transaction, the index text of a
// body already stored (a replica appending by content hash): its parts
// are read into memory. nil when they cannot be read.
func (t *writeTx) storedText(hash string, st *message.Structure) *message.IndexText {
	rows, err := t.tx.Query(t.ctx, `SELECT data FROM body_parts WHERE body_id = $1 ORDER BY part`, hash)
	if err != nil {
		return nil
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil
	}
	return indexText(st, bytes.NewReader(bytes.Join(parts, nil)))
}

// queueTextIndex queues, on the batch that inserts the messages, the
// text_index rows of the contents just inserted for uids of mailbox id.
// With the index off it queues instead the raising of the user's
// text_index_state.missing_upto to the largest of those contents' ids,
// so SEARCH scans them (and the older ones) until Reindex; contents ids
// come from a sequence and are never reused, and text_index rows go with
// their contents row, so the index never holds text of another message.
func (t *writeTx) queueTextIndex(batch *pgx.Batch, id store.MailboxID, uids []store.UID, prepared []preparedMessage) {
	if t.noText {
		us := make([]int64, len(uids))
		for i, u := range uids {
			us[i] = int64(u)
		}
		batch.Queue(`INSERT INTO text_index_state (user_id, missing_upto)
			SELECT $1, max(content_id) FROM messages WHERE mailbox_id = $2 AND uid = ANY($3::bigint[]) HAVING count(*) > 0
			ON CONFLICT (user_id) DO UPDATE SET missing_upto = greatest(text_index_state.missing_upto, excluded.missing_upto)`,
			t.userID, id, us)
		return
	}
	texts := make([]*message.IndexText, len(prepared))
	for i := range prepared {
		texts[i] = prepared[i].text
	}
	n := len(uids)
	cols := make([][]string, 8)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	partial := make([]bool, n)
	us := make([]int64, n)
	for i, x := range texts {
		us[i] = int64(uids[i])
		if x == nil {
			partial[i] = true
			continue
		}
		partial[i] = x.Partial
		for j, v := range []string{x.Header, x.Body, x.Subject, x.From, x.To, x.Cc, x.Bcc, bodyWords(x)} {
			cols[j][i] = v
		}
	}
	batch.Queue(`WITH x AS (SELECT m.content_id, x.partial, x.header, x.body, x.subject, x.addr_from, x.addr_to, x.addr_cc, x.addr_bcc, x.words
			FROM unnest($2::bigint[], $3::boolean[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
				AS x(uid, partial, header, body, subject, addr_from, addr_to, addr_cc, addr_bcc, words)
			JOIN messages m ON m.mailbox_id = $1 AND m.uid = x.uid)
		`+insertIndexRows,
		id, us, partial, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7])
}

// insertIndexRows ends a statement whose CTE x holds index rows
// (content_id, partial, header, body, subject, addr_from, addr_to,
// addr_cc, addr_bcc, words): it writes each into its tables, one
// statement so that a batch's rows go in together. A contents row already
// indexed keeps its rows. New words go into the vocabulary in their
// order, so that two appends adding the same words wait for each other
// rather than deadlock.
const insertIndexRows = `, b AS (INSERT INTO text_index (content_id, partial, body)
		SELECT content_id, partial, body FROM x ON CONFLICT (content_id) DO NOTHING),
	w AS (INSERT INTO text_index_words (content_id, words)
		SELECT content_id, string_to_array(words, ' ') FROM x WHERE NOT partial ON CONFLICT (content_id) DO NOTHING),
	v AS (INSERT INTO text_words (word)
		SELECT DISTINCT unnest(string_to_array(words, ' ')) FROM x ORDER BY 1 ON CONFLICT (word) DO NOTHING),
	h AS (INSERT INTO text_index_header (content_id, header)
		SELECT content_id, header FROM x ON CONFLICT (content_id) DO NOTHING),
	s AS (INSERT INTO text_index_subjects (content_id, subject)
		SELECT content_id, subject FROM x ON CONFLICT (content_id) DO NOTHING)
	INSERT INTO text_index_fields (content_id, subject, addr_from, addr_to, addr_cc, addr_bcc)
		SELECT content_id, subject, addr_from, addr_to, addr_cc, addr_bcc FROM x ON CONFLICT (content_id) DO NOTHING`

// textCandidates is, for each field, a query of the contents rows whose
// text holds the LIKE pattern $3, each with whether that settles it
// (sure) or leaves it undecided: a body cut at message.MaxIndexedBody is
// always a candidate and never sure (a second branch, found by
// text_index_partial_rows: "LIKE … OR partial" in one condition kept
// PostgreSQL from the trigram index), and HEADER's hits are only a
// superset (any field holds the string; HEADER names one).
var textCandidates = map[store.TextField]string{
	store.TextBody: `SELECT content_id, NOT partial AS sure FROM text_index WHERE body LIKE $3
		UNION ALL SELECT content_id, false FROM text_index WHERE partial`,
	store.TextText: `SELECT content_id, NOT partial AS sure FROM text_index WHERE body LIKE $3
		UNION ALL SELECT content_id, true FROM text_index_header WHERE header LIKE $3
		UNION ALL SELECT content_id, false FROM text_index WHERE partial`,
	store.TextHeader:  `SELECT content_id, false AS sure FROM text_index_header WHERE header LIKE $3`,
	store.TextSubject: `SELECT content_id, true AS sure FROM text_index_subjects WHERE subject LIKE $3`,
	store.TextFrom:    `SELECT content_id, true AS sure FROM text_index_fields WHERE addr_from LIKE $3`,
	store.TextTo:      `SELECT content_id, true AS sure FROM text_index_fields WHERE addr_to LIKE $3`,
	store.TextCc:      `SELECT content_id, true AS sure FROM text_index_fields WHERE addr_cc LIKE $3`,
	store.TextBcc:     `SELECT content_id, true AS sure FROM text_index_fields WHERE addr_bcc LIKE $3`,
}

// likePattern is '%needle%' with LIKE's special characters escaped
// (backslash is LIKE's default escape).
func likePattern(needle string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(needle) + "%"
}

// maxContentMaps is how many mailboxes' content maps a Store keeps, of
// all its users (16 bytes a message: 16 MB for a million messages).
const maxContentMaps = 16

// SearchText implements store.TextSearcher: the contents whose text
// matches, returned as two arrays (sure and undecided) in one row, and
// turned into the mailbox's UIDs by its content map held in memory
// (internal/contentmap). Joining them to the mailbox's messages in the
// database cost more than the index itself: it read all of the
// mailbox's message rows (a sequential scan and a hash of 100,000 rows
// for a common word or a SUBJECT) on every search. The candidates are
// restricted to the range of the mailbox's content ids; those of other
// mailboxes (and users) in that range map to nothing.
//
// The map and the matches must describe one state of the mailbox. With a
// map held, one statement reads the mailbox's stamp and the matches (one
// snapshot, one round trip); if the stamp is the map's, that is the
// answer. Otherwise the map is read again and the matches with it in one
// REPEATABLE READ transaction.
func (a *Account) SearchText(ctx context.Context, id store.MailboxID, field store.TextField, needle string, within store.UIDSet) (store.TextHits, error) {
	var hits store.TextHits
	cands, ok := textCandidates[field]
	if !ok || within.Empty() {
		return hits, nil
	}
	if n, ok := message.IndexableNeedle(needle); !ok || n != needle {
		return hits, nil
	}
	pattern := likePattern(needle)
	if (field == store.TextBody || field == store.TextText) && textwords.IsNeedle(needle) {
		c, ok, err := a.wordCandidates(ctx, field, pattern)
		if err != nil {
			return hits, fmt.Errorf("text search: %w", err)
		}
		if ok {
			cands = c
		}
	}
	var r textMatches
	m := a.s.cmaps.Held(id)
	if m != nil {
		var err error
		if r, err = a.textMatches(ctx, a.s.pool, id, cands, pattern, m); err != nil {
			return hits, fmt.Errorf("text search: %w", err)
		}
		if r.found && r.stamp != m.Stamp() {
			m = nil
		}
	}
	if m == nil {
		err := a.snapshotRead(ctx, func(tx pgx.Tx) error {
			var st contentmap.Stamp
			err := tx.QueryRow(ctx, `SELECT uidvalidity, highestmodseq, uidnext, messages FROM mailboxes WHERE id = $1 AND user_id = $2`,
				id, a.id).Scan(&st.UIDValidity, &st.HighestModseq, &st.UIDNext, &st.Messages)
			if errors.Is(err, pgx.ErrNoRows) {
				r = textMatches{}
				return nil
			}
			if err != nil {
				return err
			}
			if m, err = a.contentMap(ctx, tx, id, st); err != nil {
				return err
			}
			r, err = a.textMatches(ctx, tx, id, cands, pattern, m)
			return err
		})
		if err != nil {
			return hits, fmt.Errorf("text search: %w", err)
		}
	}
	if !r.found {
		return store.TextHits{OK: true}, nil // not this user's mailbox: nothing matches
	}
	if r.missing {
		return hits, nil // the index is not built: SEARCH scans
	}
	addUIDs(&hits.Sure, m, r.sure, within)
	addUIDs(&hits.Maybe, m, r.maybe, within)
	hits.OK = true
	return hits, nil
}

// wordCandidates returns the query of field's candidates (as
// textCandidates) for a needle of word characters, whose LIKE pattern is
// $3, answered by the word index (schemaV21Words), or ok false when more
// than maxNeedleWords words hold the needle. The words are read again in
// the statement itself, so in its snapshot: the vocabulary only grows, so
// the count read here before can only be lower. The user's contents
// stored before the word index (missing_upto, which only ever falls to
// none) are answered by the trigrams.
func (a *Account) wordCandidates(ctx context.Context, field store.TextField, pattern string) (string, bool, error) {
	var words, missing int64
	err := a.s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 FROM text_words WHERE word LIKE $1 LIMIT $3) AS w),
			coalesce((SELECT missing_upto FROM text_words_missing WHERE user_id = $2), 0)`,
		pattern, a.id, maxNeedleWords+1).Scan(&words, &missing)
	if err != nil || words > maxNeedleWords {
		return "", false, err
	}
	q := `SELECT content_id, true AS sure FROM text_index_words WHERE words && ARRAY(SELECT word FROM text_words WHERE word LIKE $3)`
	if missing > 0 {
		m := strconv.FormatInt(missing, 10)
		q += ` AND content_id > ` + m + `
		UNION ALL SELECT content_id, NOT partial FROM text_index WHERE body LIKE $3 AND content_id <= ` + m
	}
	q += `
		UNION ALL SELECT content_id, false FROM text_index WHERE partial`
	if field == store.TextText {
		q += `
		UNION ALL SELECT content_id, true FROM text_index_header WHERE header LIKE $3`
	}
	return q, true, nil
}

// textMatches is what one statement of SearchText reads.
type textMatches struct {
	found       bool // the mailbox is the user's
	missing     bool // the user's index is not built
	stamp       contentmap.Stamp
	sure, maybe []int64 // content ids
}

// textMatches reads mailbox id's stamp, whether the user's index is
// built, and the contents in m's range whose text cands finds for
// pattern, in one statement (so one snapshot).
func (a *Account) textMatches(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id store.MailboxID, cands, pattern string, m *contentmap.Map) (textMatches, error) {
	var r textMatches
	lo, hi, ok := m.Bounds()
	if !ok {
		lo, hi = 1, 0 // an empty mailbox: an empty range
	}
	// Planned for these arguments every time (QueryExecModeExec), never
	// by a prepared statement's generic plan: that plan knows neither
	// the range nor the needle, takes the range for a narrow one and
	// walks the primary key over the whole mailbox testing each row's
	// text (57 ms instead of 0.2 ms for a rare word at 100,000
	// messages). Planning costs about a millisecond.
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM text_index_state WHERE user_id = $1),
			mb.uidvalidity, mb.highestmodseq, mb.uidnext, mb.messages, x.sure, x.maybe
		FROM mailboxes mb, LATERAL (SELECT coalesce(array_agg(content_id) FILTER (WHERE sure), '{}') AS sure,
				coalesce(array_agg(content_id) FILTER (WHERE NOT sure), '{}') AS maybe
			FROM (`+cands+`) AS c WHERE content_id BETWEEN $4 AND $5) AS x
		WHERE mb.id = $2 AND mb.user_id = $1`,
		pgx.QueryExecModeExec, a.id, id, pattern, lo, hi).
		Scan(&r.missing, &r.stamp.UIDValidity, &r.stamp.HighestModseq, &r.stamp.UIDNext, &r.stamp.Messages, &r.sure, &r.maybe)
	if errors.Is(err, pgx.ErrNoRows) {
		return textMatches{}, nil
	}
	r.found = err == nil
	return r, err
}

// contentMap returns the content map of mailbox id in state st, reading
// it in tx when the one held is of another state.
func (a *Account) contentMap(ctx context.Context, tx pgx.Tx, id store.MailboxID, st contentmap.Stamp) (*contentmap.Map, error) {
	if m := a.s.cmaps.Get(id, st); m != nil {
		return m, nil
	}
	// Two arrays in one row rather than a row per message.
	var cids, uids []int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(content_id), '{}'), coalesce(array_agg(uid), '{}')
		FROM messages WHERE mailbox_id = $1`, id).Scan(&cids, &uids); err != nil {
		return nil, err
	}
	us := make([]store.UID, len(uids))
	for i, u := range uids {
		us[i] = store.UID(u)
	}
	m, err := contentmap.New(st, cids, us)
	if err != nil {
		return nil, err
	}
	a.s.cmaps.Put(id, m)
	return m, nil
}

// addUIDs adds to set the UIDs of m's messages whose content is in cids
// (any order, repeats allowed) that are in within.
func addUIDs(set *store.UIDSet, m *contentmap.Map, cids []int64, within store.UIDSet) {
	slices.Sort(cids)
	for _, u := range m.UIDsOf(cids) {
		if within.Contains(u) {
			set.Add(u)
		}
	}
}

// reindexBatch is how many contents one step of Reindex reads and writes.
const reindexBatch = 256

// Reindex rebuilds a user's text index (store.Reindexer), and fills in the
// summary of contents stored before schema version 12: it drops the
// user's rows and marks them missing (SEARCH scans meanwhile), then
// computes the rows batch by batch from the stored bodies, and finally
// declares the index complete. Messages appended meanwhile index
// themselves.
func (s *Store) Reindex(ctx context.Context, user string) error {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return err
	}
	defer a.Close()
	var upto int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM contents WHERE user_id = $1`, a.id).Scan(&upto); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO text_index_state (user_id, missing_upto) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET missing_upto = excluded.missing_upto`, a.id, upto); err != nil {
			return err
		}
		// Every row's words are written again below: the stored mail no
		// longer lacks them once the index is declared complete.
		if _, err := tx.Exec(ctx, `DELETE FROM text_words_missing WHERE user_id = $1`, a.id); err != nil {
			return err
		}
		for _, table := range []string{"text_index", "text_index_header", "text_index_fields", "text_index_subjects", "text_index_words"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` t USING contents c WHERE c.id = t.content_id AND c.user_id = $1 AND c.id <= $2`, a.id, upto); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reindex %s: %w", user, err)
	}
	var last int64
	for {
		type item struct {
			id        int64
			blob      string
			structure []byte
			summary   bool // fill in the summary: stored before schema 12
		}
		rows, err := s.pool.Query(ctx, `SELECT id, blob_id, structure, sort_keys IS NULL OR preview IS NULL
			FROM contents WHERE user_id = $1 AND id > $2 AND id <= $3
			ORDER BY id LIMIT $4`, a.id, last, upto, reindexBatch)
		if err != nil {
			return fmt.Errorf("reindex %s: %w", user, err)
		}
		var batch []item
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.blob, &it.structure, &it.summary); err != nil {
				rows.Close()
				return fmt.Errorf("reindex %s: %w", user, err)
			}
			batch = append(batch, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reindex %s: %w", user, err)
		}
		if len(batch) == 0 {
			break
		}
		last = batch[len(batch)-1].id
		b := &pgx.Batch{}
		for i := range batch {
			it := &batch[i]
			d := a.derive(ctx, it.blob, it.structure, it.summary)
			if it.summary && d.keys != nil {
				b.Queue(`UPDATE contents SET sort_keys = coalesce(sort_keys, $2), preview = coalesce(preview, $3) WHERE id = $1`,
					it.id, d.keys, d.preview)
			}
			x := d.text
			if x == nil {
				x = &message.IndexText{Partial: true}
			}
			b.Queue(`WITH x AS (SELECT id AS content_id, $2::boolean AS partial, $3::text AS header, $4::text AS body,
					$5::text AS subject, $6::text AS addr_from, $7::text AS addr_to, $8::text AS addr_cc, $9::text AS addr_bcc,
					$10::text AS words
				FROM contents WHERE id = $1)
				`+insertIndexRows,
				it.id, x.Partial, x.Header, x.Body, x.Subject, x.From, x.To, x.Cc, x.Bcc, bodyWords(x))
		}
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("reindex %s: %w", user, err)
		}
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM text_index_state WHERE user_id = $1 AND missing_upto = $2`, a.id, upto); err != nil {
		return fmt.Errorf("reindex %s: %w", user, err)
	}
	return nil
}

// rederived is what Reindex computes from a stored message.
type rederived struct {
	text    *message.IndexText // nil: unreadable (indexed as partial)
	keys    []byte             // with the summary; nil: structure or body unreadable
	preview *string            // with the summary; nil: not computed
}

// derive computes a stored message's index text and, withSummary, its
// summary (summary.go).
func (a *Account) derive(ctx context.Context, blobID string, structure []byte, withSummary bool) rederived {
	var d rederived
	st, err := message.Unmarshal(structure)
	if err != nil {
		return d
	}
	b, err := a.OpenBlob(ctx, blobID)
	if err != nil {
		return d
	}
	defer b.Close()
	if withSummary {
		d.keys, d.preview = sortthread.Summarize(st, b)
	}
	d.text = indexText(st, b)
	return d
}

var (
	_ store.TextSearcher = (*Account)(nil)
	_ store.Reindexer    = (*Store)(nil)
)
