package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/textwords"
)

// The text index (store.TextSearcher): FTS5 tables with the trigram
// tokenizer, one row per contents row (rowid = contents.id, so COPY and
// MOVE, which share contents, cost it nothing), holding the folded text
// message.BuildIndexText computes. They are contentless (only the index is
// stored, not the text) with contentless_delete, so the transaction that
// drops a contents row drops its rows too. The tokenizer is case-sensitive
// because the text and the needle are folded by Go (message.Fold), the
// same folding the SEARCH scan uses; a phrase query of a needle of three
// or more characters is then exactly "the needle is a substring" (one
// trigram per character position, consecutive positions). The pieces a
// search never spans (header fields, parts) are apart by
// message.IndexSeparator, which a needle sent to the index never holds.
//
// Each table holds what one kind of key reads, and no column filter is
// applied to the big ones: FTS5 reads a term's positions in every column
// of a row before a filter picks one, so with the header and the body in
// one table (schema versions 7 to 15, text_index) BODY read and then
// dropped the header's postings of its trigrams, and a common word paid
// for both. Since version 16:
//
//   - text_body: the body text, what BODY reads;
//   - text_header: the top-level header, what HEADER reads (TEXT reads
//     both, one query each, the matches merged);
//   - text_index_fields: the short fields SUBJECT and the address keys
//     read, in columns of their own, the filter cheap on such short text.
//
// text_index_partial lists the contents whose text was too long to index
// whole, or could not be read: they are always candidates (TextHits.Maybe).
//
// meta.text_index_missing_upto: contents with an id up to it may lack
// their row (a database upgraded from before the index, or a rebuild under
// way); while it is not 0 the index does not answer (TextHits.OK false),
// and SEARCH scans. Reindex builds what is missing and sets it to 0.
const schemaV7TextIndex = `
CREATE VIRTUAL TABLE text_index USING fts5(header, body,
	tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1);
CREATE VIRTUAL TABLE text_index_fields USING fts5(subject, addr_from, addr_to, addr_cc, addr_bcc,
	tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1);
CREATE TABLE text_index_partial (
	content_id INTEGER PRIMARY KEY
);
INSERT INTO meta (key, value) SELECT 'text_index_missing_upto', coalesce(max(id), 0) FROM contents;
`

// schemaV16TextSplit is what schema version 16 added: the header and the
// body in tables of their own (above). text_index (version 7) answers for
// what a conversion has not moved yet (textsplit.go), and stays empty
// after.
const schemaV16TextSplit = `
CREATE VIRTUAL TABLE text_body USING fts5(body,
	tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1);
CREATE VIRTUAL TABLE text_header USING fts5(header,
	tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1);
`

// indexText fills in p.text from the parsed structure and the bytes
// (read at delivery, outside the transaction). A failure leaves it nil:
// the message is then indexed as partial, never refused for it.
func (p *preparedMessage) indexText(st *message.Structure, r io.ReaderAt) {
	t, err := message.BuildIndexText(st, r)
	if err != nil {
		return
	}
	p.text = &t
}

// indexAppended indexes the contents rows an append created, or, with
// the index turned off, marks them missing instead: one meta write that
// raises text_index_missing_upto to the largest new id, so SEARCH scans
// them (and every older one) rather than trust an index that lacks them.
// Turning the index back on needs nothing more: later appends index
// themselves, and the mark keeps the scan until Reindex. Contents ids are
// never those of a live row with an index row of other text: dropping a
// contents row drops its index row (unindexContent) whatever the setting.
//
// With the index written behind (textbehind.go), the rows of every
// append, and of any append while a backlog waits, are left to the
// background indexer.
func (t *writeTx) indexAppended(ids []int64, texts []*message.IndexText, deferred bool) error {
	if len(ids) == 0 {
		return nil
	}
	if !t.u.noText {
		// A backlog (left by this process or another) is always waited
		// behind: nothing above it may be indexed out of turn.
		_, pending, err := textPending(t.ctx, t.q)
		if err != nil {
			return err
		}
		if pending || t.u.textBehind || deferred {
			return t.deferText(ids, pending)
		}
		return t.indexContents(ids, texts)
	}
	top := slices.Max(ids)
	if _, err := t.q.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES ('text_index_missing_upto', ?)
		ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`, top); err != nil {
		return fmt.Errorf("text index: %w", err)
	}
	return nil
}

// indexContents writes the text index rows of new contents rows ids[i]
// (texts[i] nil: unreadable). The rows go in multi-row INSERTs after every
// other statement of the append: FTS5 flushes its pending terms to a new
// segment whenever a statement savepoint opens while it has some, so one
// INSERT per message between the other statements of a batch would write
// (and later merge) one tiny segment per message.
func (t *writeTx) indexContents(ids []int64, texts []*message.IndexText) error {
	return t.writeTextRows(ids, texts, true)
}

// writeTextRows writes the header and body rows of contents ids[i], and
// withFields their fields rows too.
func (t *writeTx) writeTextRows(ids []int64, texts []*message.IndexText, withFields bool) error {
	const rowsPerInsert = 1000 // an indexer step's rows (behindBatch) in one
	for start := 0; start < len(ids); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(ids))
		body := newRowsInsert(`text_body (rowid, body)`, 2)
		header := newRowsInsert(`text_header (rowid, header)`, 2)
		fields := newRowsInsert(`text_index_fields (rowid, subject, addr_from, addr_to, addr_cc, addr_bcc)`, 6)
		words := newWordRows()
		for i := start; i < end; i++ {
			x := texts[i]
			if x == nil || x.Partial {
				if _, err := t.tx.ExecContext(t.ctx, `INSERT OR IGNORE INTO text_index_partial (content_id) VALUES (?)`, ids[i]); err != nil {
					return fmt.Errorf("text index: %w", err)
				}
			}
			if x == nil {
				continue
			}
			body.add(ids[i], x.Body)
			words.add(ids[i], x.Body)
			header.add(ids[i], x.Header)
			if withFields {
				fields.add(ids[i], x.Subject, x.From, x.To, x.Cc, x.Bcc)
			}
		}
		for _, ins := range []*rowsInsert{body, header, fields} {
			if err := ins.exec(t); err != nil {
				return fmt.Errorf("text index: %w", err)
			}
		}
		if err := words.exec(t); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	return nil
}

// rowsInsert builds one multi-row INSERT.
type rowsInsert struct {
	sql   strings.Builder
	args  []any
	tuple string
}

func newRowsInsert(into string, columns int) *rowsInsert {
	r := &rowsInsert{tuple: "(?" + strings.Repeat(", ?", columns-1) + ")"}
	r.sql.WriteString("INSERT INTO " + into + " VALUES ")
	return r
}

func (r *rowsInsert) add(values ...any) {
	if len(r.args) > 0 {
		r.sql.WriteString(", ")
	}
	r.sql.WriteString(r.tuple)
	r.args = append(r.args, values...)
}

func (r *rowsInsert) exec(t *writeTx) error {
	if len(r.args) == 0 {
		return nil
	}
	_, err := t.tx.ExecContext(t.ctx, r.sql.String(), r.args...)
	return err
}

// unindexContent drops the text index row of a dropped contents row.
func (t *writeTx) unindexContent(id int64) error {
	if _, _, splitting, err := textSplit(t.ctx, t.tx); err != nil {
		return err
	} else if splitting {
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM text_index WHERE rowid = ?`, id); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	for _, q := range []string{
		`DELETE FROM text_body WHERE rowid = ?`,
		`DELETE FROM text_header WHERE rowid = ?`,
		`DELETE FROM text_body_words WHERE rowid = ?`,
		`DELETE FROM text_index_fields WHERE rowid = ?`,
		`DELETE FROM text_index_partial WHERE content_id = ?`,
	} {
		if _, err := t.q.ExecContext(t.ctx, q, id); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	return nil
}

// textSource is an FTS5 table a key reads, the column filter of the key
// in it ("" for none), and, when upto is not 0, the rowids (after, upto]
// it answers for. match, when set, is the FTS5 query instead of the
// needle's phrase.
type textSource struct {
	table, column string
	after, upto   int64
	match         string
}

// textSources are the tables each field reads: TEXT reads two, and a
// message matches when it matches in either.
var textSources = map[store.TextField][]textSource{
	store.TextBody:    {{table: "text_body", column: ""}},
	store.TextText:    {{table: "text_body", column: ""}, {table: "text_header", column: ""}},
	store.TextHeader:  {{table: "text_header", column: ""}},
	store.TextSubject: {{table: "text_index_fields", column: "subject"}},
	store.TextFrom:    {{table: "text_index_fields", column: "addr_from"}},
	store.TextTo:      {{table: "text_index_fields", column: "addr_to"}},
	store.TextCc:      {{table: "text_index_fields", column: "addr_cc"}},
	store.TextBcc:     {{table: "text_index_fields", column: "addr_bcc"}},
}

// ftsPhrase is an FTS5 query for needle as one phrase in columns (all
// of them when columns is empty).
func ftsPhrase(columns, needle string) string {
	q := `"` + strings.ReplaceAll(needle, `"`, `""`) + `"`
	if columns == "" {
		return q
	}
	return columns + ` : ` + q
}

// matchQuery is a query of the content ids src matches needle in, within
// the contents ids first to last when bounded, and its arguments.
func (src textSource) matchQuery(needle string, bounded bool, first, last int64) (string, []any) {
	q := `SELECT rowid AS cid FROM ` + src.table + ` WHERE ` + src.table + ` MATCH ?`
	args := []any{ftsPhrase(src.column, needle)}
	if src.match != "" {
		args[0] = src.match
	}
	if bounded {
		q += ` AND rowid BETWEEN ? AND ?`
		args = append(args, first, last)
	}
	if src.upto != 0 {
		q += ` AND rowid > ? AND rowid <= ?`
		args = append(args, src.after, src.upto)
	}
	return q, args
}

// SearchText implements store.TextSearcher: an FTS5 phrase query of each
// table the field reads, its content ids turned into the mailbox's UIDs,
// in one read transaction.
func (a *Account) SearchText(ctx context.Context, id store.MailboxID, field store.TextField, needle string, within store.UIDSet) (store.TextHits, error) {
	var hits store.TextHits
	sources, ok := textSources[field]
	if !ok || within.Empty() {
		return hits, nil
	}
	if n, ok := message.IndexableNeedle(needle); !ok || n != needle {
		return hits, nil // not a folded needle the index decides
	}
	lo, hi := within[0].Start, within[len(within)-1].Stop
	err := a.u.readTx(ctx, func(tx *sql.Tx) error {
		var missing int64
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'text_index_missing_upto'`).Scan(&missing)
		if errors.Is(err, sql.ErrNoRows) || err == nil && missing != 0 {
			return nil // not built: scan
		}
		if err != nil {
			return err
		}
		hits.OK = true
		// Contents the conversion to schema 16 has not reached yet are in
		// the old table (textsplit.go).
		if done, upto, splitting, err := textSplit(ctx, tx); err != nil {
			return err
		} else if col, ok := version15Columns[field]; ok && splitting {
			sources = append(slices.Clip(sources), textSource{table: "text_index", column: col, after: done, upto: upto})
		}
		// A needle of word characters is answered by the word index
		// where it can (textwords.go).
		if (field == store.TextBody || field == store.TextText) && textwords.IsNeedle(needle) {
			if sources, err = wordSources(ctx, tx, sources, needle); err != nil {
				return err
			}
		}
		// Contents not indexed yet (textbehind.go) are the scan's.
		after, pending, err := textPending(ctx, tx)
		if err != nil {
			return err
		}
		if pending {
			rows, err := tx.QueryContext(ctx, `SELECT group_concat(uid) FROM messages INDEXED BY messages_content
				WHERE content_id > ? AND mailbox_id = ? AND uid BETWEEN ? AND ?`, after, id, lo, hi)
			if err != nil {
				return err
			}
			if err := scanUIDs(rows, within, &hits.Maybe); err != nil {
				return err
			}
		}
		// A mailbox much smaller than the account restricts the matches
		// to the range of contents ids its messages hold: FTS5 seeks its
		// position lists to that range, so a search in a small mailbox
		// does not read the account's every match of a common string.
		// The range is one pass over the mailbox's rows, so a mailbox
		// holding most of the account skips it.
		var messages, maxContent int64
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT messages FROM mailboxes WHERE id = ?), (SELECT coalesce(max(id), 0) FROM contents)`,
			id).Scan(&messages, &maxContent); err != nil {
			return err
		}
		sure := &hits.Sure
		if field == store.TextHeader {
			sure = &hits.Maybe // any field holds it; HEADER names one
		}
		if messages*2 > maxContent {
			// A mailbox holding most of the account: the matches' content
			// ids are mapped to UIDs by the mailbox's map held in memory
			// (textmap.go), one merge of two ordered lists, rather than by
			// an index lookup per match.
			m, err := a.u.contentMap(ctx, tx, id)
			if err != nil {
				return err
			}
			var cids []int64
			for i, src := range sources {
				q, args := src.matchQuery(needle, false, 0, 0)
				rows, err := tx.QueryContext(ctx, `SELECT group_concat(cid) FROM (`+q+`)`, args...)
				if err != nil {
					return err
				}
				more, err := scanIDs(rows)
				if err != nil {
					return err
				}
				if i == 0 {
					cids = more
				} else {
					cids = unionSorted(cids, more)
				}
			}
			addUIDs(m.UIDsOf(cids), within, sure)
		} else {
			var first, last sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT min(content_id), max(content_id) FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`,
				id, lo, hi).Scan(&first, &last); err != nil {
				return err
			}
			if !first.Valid {
				return nil // no message in within
			}
			var union []string
			var args []any
			for _, src := range sources {
				q, a := src.matchQuery(needle, true, first.Int64, last.Int64)
				union, args = append(union, q), append(args, a...)
			}
			if len(union) == 0 {
				union = []string{`SELECT NULL AS cid WHERE false`} // no word holds the needle
			}
			// The matches drive the join (CROSS JOIN keeps that order):
			// each finds its messages by messages_content (which holds
			// mailbox_id and uid too, so the lookup never reads the
			// table), so a rare string costs next to nothing whatever the
			// mailbox's size. The UIDs come back as one comma-separated
			// list (one row instead of a row per hit through
			// database/sql) in content order, and are sorted here,
			// cheaper than SQLite's sorter.
			rows, err := tx.QueryContext(ctx, `SELECT group_concat(m.uid) FROM (`+strings.Join(union, ` UNION `)+`) AS f
				CROSS JOIN messages AS m ON m.content_id = f.cid
				WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ?`,
				append(args, id, lo, hi)...)
			if err != nil {
				return err
			}
			if err := scanUIDs(rows, within, sure); err != nil {
				return err
			}
		}
		if field != store.TextBody && field != store.TextText {
			return nil // only body text is ever cut short
		}
		// The partial contents (few, usually none) drive the join: left
		// to itself the planner walked the mailbox's every message and
		// looked each up in text_index_partial, most of the cost of a
		// rare word's search in a large mailbox.
		rows, err := tx.QueryContext(ctx, `SELECT group_concat(m.uid) FROM text_index_partial p CROSS JOIN messages m ON m.content_id = p.content_id
			WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ?`, id, lo, hi)
		if err != nil {
			return err
		}
		var partial store.UIDSet
		if err := scanUIDs(rows, within, &partial); err != nil {
			return err
		}
		for _, r := range partial {
			hits.Maybe.AddRange(r.Start, r.Stop)
		}
		if len(partial) > 0 {
			hits.Sure = subtract(hits.Sure, partial)
		}
		return nil
	})
	if err != nil {
		return store.TextHits{}, fmt.Errorf("text search: %w", err)
	}
	return hits, nil
}

// scanUIDs adds the UIDs listed by rows, each row one comma-separated
// list of decimal UIDs in any order (group_concat), that are in within to
// out.
func scanUIDs(rows *sql.Rows, within store.UIDSet, out *store.UIDSet) error {
	ids, err := scanIDs(rows)
	if err != nil {
		return err
	}
	uids := make([]store.UID, len(ids))
	for i, id := range ids {
		uids[i] = store.UID(id)
	}
	addUIDs(uids, within, out)
	return nil
}

// scanIDs reads the numbers listed by rows, each row one comma-separated
// list of decimal numbers (group_concat), in ascending order.
func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var list sql.RawBytes
		if err := rows.Scan(&list); err != nil {
			return nil, err
		}
		ids = appendList(ids, list)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !slices.IsSorted(ids) {
		slices.Sort(ids)
	}
	return ids, nil
}

// appendList appends the numbers of a comma-separated list of
// non-negative decimal numbers to ids.
func appendList(ids []int64, list []byte) []int64 {
	for len(list) > 0 {
		var n int64
		i := 0
		for ; i < len(list) && list[i] != ','; i++ {
			n = n*10 + int64(list[i]-'0')
		}
		ids = append(ids, n)
		if i < len(list) {
			i++
		}
		list = list[i:]
	}
	return ids
}

// unionSorted returns the numbers of two ascending lists, ascending,
// each once.
func unionSorted(a, b []int64) []int64 {
	out := make([]int64, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// addUIDs adds the UIDs of uids that are in within to out; uids must be
// ascending.
func addUIDs(uids []store.UID, within store.UIDSet, out *store.UIDSet) {
	// One walk of within beside the sorted UIDs, no search per UID.
	r := 0
	for _, u := range uids {
		for r < len(within) && within[r].Stop < u {
			r++
		}
		if r == len(within) {
			break
		}
		if u >= within[r].Start {
			out.Add(u)
		}
	}
}

// subtract returns the UIDs of a not in b.
func subtract(a, b store.UIDSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range a {
		for u := r.Start; ; u++ {
			if !b.Contains(u) {
				out.Add(u)
			}
			if u == r.Stop {
				break
			}
		}
	}
	return out
}

// reindexBatch is how many contents one step of Reindex reads and writes.
const reindexBatch = 256

// Reindex rebuilds a user's text index (store.Reindexer), and fills in the
// summary of messages stored before schema version 9: it empties the
// index and marks every existing contents row missing (so SEARCH scans
// meanwhile), then reads the bodies in batches outside any write
// transaction and writes each batch's rows in one, skipping contents
// dropped meanwhile; messages appended during the rebuild are indexed by
// their own transactions. The last step declares the index complete,
// unless appends with the index off (Options.NoTextIndex, here or in
// another process) have marked newer contents missing meanwhile.
func (s *Store) Reindex(ctx context.Context, user string) error {
	u, err := s.acquire(ctx, user)
	if err != nil {
		return err
	}
	defer s.release(u)
	return u.reindex(ctx)
}

func (u *userDB) reindex(ctx context.Context) error {
	var upto int64
	err := u.write(ctx, func(t *writeTx) error {
		if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM contents`).Scan(&upto); err != nil {
			return err
		}
		for _, q := range []string{
			`INSERT INTO text_body (text_body) VALUES ('delete-all')`,
			`INSERT INTO text_header (text_header) VALUES ('delete-all')`,
			`INSERT INTO text_index_fields (text_index_fields) VALUES ('delete-all')`,
			`INSERT INTO text_index (text_index) VALUES ('delete-all')`,
			`INSERT INTO text_body_words (text_body_words) VALUES ('delete-all')`,
			`INSERT INTO text_words_trigrams (text_words_trigrams) VALUES ('delete-all')`,
			`DELETE FROM text_words`,
			`DELETE FROM meta WHERE key = '` + textWordsMissingKey + `'`,
			`DELETE FROM text_index_partial`,
			`DELETE FROM meta WHERE key IN ('` + textSplitUptoKey + `', '` + textSplitDoneKey + `')`,
		} {
			if _, err := t.tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('text_index_missing_upto', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, upto); err != nil {
			return err
		}
		// A backlog of the background indexer below upto is this
		// rebuild's now (textbehind.go): the indexer goes on above it.
		if _, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = '`+textPendingKey+`' AND value < ?`, upto, upto); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `DELETE FROM meta WHERE key = '`+textPendingKey+`'
			AND NOT EXISTS (SELECT 1 FROM contents WHERE contents.id > meta.value)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	type item struct {
		id      int64
		text    *message.IndexText
		summary bool // fill in the summary: stored before schema 9
		keys    []byte
	}
	var last int64
	for {
		var batch []item
		err := u.readTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, blob_id, structure, sort_keys IS NULL
				FROM contents WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`,
				last, upto, reindexBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var it item
				var blobID string
				var structure []byte
				if err := rows.Scan(&it.id, &blobID, &structure, &it.summary); err != nil {
					return err
				}
				d := u.derive(ctx, blobID, structure, it.summary)
				it.text, it.keys = d.text, d.keys
				batch = append(batch, it)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		last = batch[len(batch)-1].id
		err = u.write(ctx, func(t *writeTx) error {
			var ids []int64
			var texts []*message.IndexText
			for _, it := range batch {
				var exists bool
				if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM contents WHERE id = ?)`, it.id).Scan(&exists); err != nil {
					return err
				}
				if !exists {
					continue // expunged meanwhile
				}
				ids, texts = append(ids, it.id), append(texts, it.text)
				if it.summary && it.keys != nil {
					if _, err := t.tx.ExecContext(ctx, `UPDATE contents SET sort_keys = coalesce(sort_keys, ?) WHERE id = ?`, it.keys, it.id); err != nil {
						return err
					}
				}
			}
			return t.indexContents(ids, texts)
		})
		if err != nil {
			return fmt.Errorf("reindex: %w", err)
		}
	}
	err = u.write(ctx, func(t *writeTx) error {
		// Only if no append with the index off has marked later contents
		// missing meanwhile.
		_, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = 0 WHERE key = 'text_index_missing_upto' AND value = ?`, upto)
		return err
	})
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	return nil
}

// rederived is what Reindex computes from a stored message.
type rederived struct {
	text *message.IndexText // nil: unreadable (indexed as partial)
	keys []byte             // with the summary; nil: structure or body unreadable
}

// derive computes a stored message's index text and, withSummary, its
// summary (summary.go).
func (u *userDB) derive(ctx context.Context, blobID string, structure []byte, withSummary bool) rederived {
	var d rederived
	raw, err := bodypack.Unpack(structure) // stored compressed (compress.go)
	if err != nil {
		return d
	}
	st, err := message.Unmarshal(raw)
	if err != nil {
		return d
	}
	b, err := u.openBody(ctx, blobID)
	if err != nil {
		return d
	}
	defer b.Close()
	if withSummary {
		d.keys = sortthread.EncodeKeys(st)
	}
	if t, err := message.BuildIndexText(st, b); err == nil {
		d.text = &t
	}
	return d
}

// storedText computes the index text of a body already stored (a replica
// appending by content hash, without the bytes).
func (t *writeTx) storedText(blobID string, structure []byte) *message.IndexText {
	return t.u.derive(t.ctx, blobID, structure, false).text
}

var _ store.TextSearcher = (*Account)(nil)
var _ store.Reindexer = (*Store)(nil)
