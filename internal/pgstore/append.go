package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/derived"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Bodies are content-addressed: a bodies row per distinct content (hex
// SHA-256 of the bytes), shared by every user's messages with those bytes,
// and the bytes in body_parts rows of partSize bytes each. A body is
// written only by the transaction that creates its bodies row, so the same
// bytes are never written twice; large bodies go to the database part by
// part from a spool file and are read back part by part, never held in
// memory whole.
const partSize = 256 << 10

// memoryBodyMax is the largest body Append keeps in memory between reading
// it and its transaction, and memoryBatchMax the most one Append call keeps
// in memory in all; other bodies are spooled to temporary files.
const (
	memoryBodyMax  = 1 << 20
	memoryBatchMax = 32 << 20
)

// preparedMessage is a message read, hashed and parsed, ready for the
// transaction.
type preparedMessage struct {
	blobID       string
	size         int64
	flags        store.SystemFlags
	keywords     []string
	internalDate time.Time
	structure    []byte
	thread       message.ThreadRefs
	body         io.ReaderAt        // the bytes: memory or a spool file; nil when stored
	text         *message.IndexText // the text index row (textindex.go)
	sortKeys     []byte             // the summary (summary.go)
	preview      *string            // nil: not computed

	// Set by a Replica only: the UID to use (0: the next), the SAVEDATE
	// and object ids to keep (zero: now, new), and the local modseq the
	// message gets (0: the transaction's).
	uid               store.UID
	saveDate          time.Time
	emailID, threadID string
	modseq            store.ModSeq
	// derived is what the sender derived from the bytes (package
	// derived), used instead of parsing them when it is theirs
	// (usedDerived).
	derived     []byte
	usedDerived bool
}

// allSystemFlags masks the defined store.SystemFlags bits.
const allSystemFlags = store.FlagSeen | store.FlagAnswered | store.FlagFlagged | store.FlagDeleted | store.FlagDraft

// normalizeFlags checks keywords and returns the flags in stored form.
func normalizeFlags(f store.Flags) (store.SystemFlags, []string, error) {
	for _, k := range f.Keywords {
		if !store.ValidKeyword(k) {
			return 0, nil, fmt.Errorf("keyword %q: %w", k, store.ErrInvalidKeyword)
		}
	}
	kw := store.NormalizeKeywords(f.Keywords)
	if kw == nil {
		kw = []string{}
	}
	return f.System & allSystemFlags, kw, nil
}

// spool reads a body, hashing it, into memory or (past memoryBodyMax) a
// temporary file, which the returned cleanup removes.
func (a *Account) spool(p *preparedMessage, r io.Reader, budget *int64) (cleanup func(), err error) {
	h := sha256.New()
	var buf bytes.Buffer
	limit := min(memoryBodyMax, *budget)
	n, err := buf.ReadFrom(io.TeeReader(io.LimitReader(r, limit+1), h))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	max := a.s.opts.MaxMessageSize
	if n <= limit {
		*budget -= n
		if max > 0 && n > max {
			return nil, fmt.Errorf("message larger than %d bytes: %w", max, store.ErrTooBig)
		}
		p.body, p.size = bytes.NewReader(buf.Bytes()), n
		p.blobID = hex.EncodeToString(h.Sum(nil))
		return func() {}, nil
	}
	f, err := os.CreateTemp("", "tidemark-body-")
	if err != nil {
		return nil, err
	}
	cleanup = func() { f.Close(); os.Remove(f.Name()) }
	var src io.Reader = io.MultiReader(&buf, io.TeeReader(r, h))
	if max > 0 {
		src = io.LimitReader(src, max+1)
	}
	n, err = io.Copy(f, src)
	if err == nil && max > 0 && n > max {
		err = fmt.Errorf("message larger than %d bytes: %w", max, store.ErrTooBig)
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	p.body, p.size = f, n
	p.blobID = hex.EncodeToString(h.Sum(nil))
	return cleanup, nil
}

// parse fills in the structure, thread headers, summary and (withText)
// index text from the body: the structure and summary come from p.derived
// when it was sealed for these bytes (a replica's append), else from
// parsing them.
func (p *preparedMessage) parse(withText bool) error {
	d, st, used, err := derived.From(p.derived, p.blobID, p.size, io.NewSectionReader(p.body, 0, p.size), true)
	if err != nil {
		return err
	}
	p.usedDerived = used
	p.structure, p.sortKeys, p.preview = d.Structure, d.SortKeys, d.Preview
	p.thread = st.ThreadRefs()
	if withText {
		p.text = indexText(st, p.body)
	}
	return nil
}

// Append adds messages in one transaction. Each body is read, hashed and
// parsed before the transaction begins; the transaction writes the bytes
// of each content not yet stored, then the message rows. It commits once,
// so an acknowledged append is durable as a whole (synchronous_commit
// decides what durable means: keep it on). A message over the size limit
// fails the call with store.ErrTooBig.
func (a *Account) Append(ctx context.Context, id store.MailboxID, msgs []store.NewMessage) (store.AppendResult, error) {
	var res store.AppendResult
	if _, err := lookupID(ctx, a.s.pool, a.id, id); err != nil {
		return res, err
	}
	prepared := make([]preparedMessage, len(msgs))
	for i, m := range msgs {
		sys, kw, err := normalizeFlags(m.Flags)
		if err != nil {
			return res, err
		}
		prepared[i] = preparedMessage{flags: sys, keywords: kw, internalDate: m.InternalDate}
	}
	budget := int64(memoryBatchMax)
	for i, m := range msgs {
		cleanup, err := a.spool(&prepared[i], m.Body, &budget)
		if err != nil {
			return res, fmt.Errorf("append message %d: %w", i+1, err)
		}
		defer cleanup()
		if err := prepared[i].parse(!a.s.opts.NoTextIndex); err != nil {
			return res, fmt.Errorf("append message %d: %w", i+1, err)
		}
	}
	now := a.s.now()
	err := a.write(ctx, func(t *writeTx) error {
		res = store.AppendResult{}
		if len(prepared) == 0 {
			mb, err := t.mailbox(id)
			res.UIDValidity = mb.UIDValidity
			return err
		}
		// Something is added: read the mailbox and allocate the modseq
		// in one statement.
		mb, err := t.mailboxWithModseq(id)
		if err != nil {
			return err
		}
		res.UIDValidity = mb.UIDValidity
		res.UIDs, res.ModSeq, err = t.insertMessages(mb, prepared, now)
		return err
	})
	if err != nil {
		return store.AppendResult{}, err
	}
	return res, nil
}

// insertMessages adds prepared messages to mailbox mb: the bytes of
// contents not stored yet, a contents row and a messages row each, the
// thread references, UIDNEXT and the counters, sent to the server as one
// pipelined batch (pgx.Batch: one round trip), after at most one lookup of
// thread references and, for bodies over one part, their claim. Messages
// with a uid get it (at least UIDNEXT and ascending, else
// store.ErrInvalidUID); the others the next one. Messages with a modseq
// get it; the others share the transaction's, which is returned.
func (t *writeTx) insertMessages(mb mailboxRow, prepared []preparedMessage, now time.Time) ([]store.UID, store.ModSeq, error) {
	if len(prepared) == 0 {
		return nil, 0, nil
	}
	id := mb.ID
	next := uint64(mb.UIDNext)
	uids := make([]store.UID, len(prepared))
	for i, p := range prepared {
		if p.uid != 0 {
			if uint64(p.uid) < next {
				return nil, 0, fmt.Errorf("append at UID %d: below UIDNEXT or out of order in mailbox %q: %w", p.uid, mb.Name, store.ErrInvalidUID)
			}
			next = uint64(p.uid)
		}
		// The last UID is MaxUID-1, so that UIDNEXT stays a valid
		// nz-number (RFC 9051 2.3.1.1).
		if next >= uint64(store.MaxUID) {
			return nil, 0, fmt.Errorf("append: UIDs exhausted in mailbox %q: %w", mb.Name, store.ErrCannot)
		}
		uids[i] = store.UID(next)
		next++
	}
	var ms store.ModSeq
	for _, p := range prepared {
		if p.modseq == 0 {
			var err error
			if ms, err = t.modseq(id); err != nil {
				return nil, 0, err
			}
			break
		}
	}
	batch := &pgx.Batch{}
	if err := t.storeBodies(prepared, batch); err != nil {
		return nil, 0, err
	}
	threads, err := t.threadIDs(prepared, batch)
	if err != nil {
		return nil, 0, err
	}
	var d counterDelta
	rows := messageRows{}
	for i, p := range prepared {
		date := p.internalDate
		if date.IsZero() {
			date = now
		}
		saved := p.saveDate
		if saved.IsZero() {
			saved = now
		}
		emailID := p.emailID
		if emailID == "" {
			emailID = store.NewObjectID('M')
		}
		m := p.modseq
		if m == 0 {
			m = ms
		}
		_, offset := date.Zone()
		rows.blobIDs = append(rows.blobIDs, p.blobID)
		rows.sizes = append(rows.sizes, p.size)
		rows.dates = append(rows.dates, date.Unix())
		rows.zones = append(rows.zones, int32(offset))
		rows.emailIDs = append(rows.emailIDs, emailID)
		rows.threadIDs = append(rows.threadIDs, threads[i])
		rows.structures = append(rows.structures, p.structure)
		rows.sortKeys = append(rows.sortKeys, p.sortKeys)
		rows.previews = append(rows.previews, p.preview)
		rows.uids = append(rows.uids, int64(uids[i]))
		rows.modseqs = append(rows.modseqs, int64(m))
		rows.flags = append(rows.flags, int16(p.flags))
		rows.keywords = append(rows.keywords, strings.Join(p.keywords, " "))
		rows.saved = append(rows.saved, saved.Unix())
		d.add(p.flags, p.size, 1)
	}
	rows.queue(batch, t.userID, id)
	batch.Queue(`UPDATE mailboxes SET uidnext = greatest(uidnext, $1), messages = messages + $3, unseen = unseen + $4,
		deleted = deleted + $5, size = size + $6 WHERE id = $2`, int64(next), id, d.messages, d.unseen, d.deleted, d.size)
	t.queueTextIndex(batch, id, uids, prepared)
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		return nil, 0, fmt.Errorf("append: %w", err)
	}
	return uids, ms, nil
}

// messageRows are the contents and messages rows of an append, column by
// column.
type messageRows struct {
	blobIDs, emailIDs, threadIDs, keywords []string // keywords joined by spaces
	sizes, dates, uids, modseqs, saved     []int64
	zones                                  []int32
	flags                                  []int16
	structures, sortKeys                   [][]byte
	previews                               []*string
}

// queue queues on batch the insertion of r as one statement: every
// contents row and the messages row naming it. One statement for the
// whole append, not one per message, so the statement-level trigger that
// logs inserted messages (changelog.go) runs once and the planner once;
// MULTIAPPEND of 100 was 100 statements. The contents ids are drawn first
// (nextval in a materialized CTE, in the order of the arrays) so that each
// messages row names its own.
func (r *messageRows) queue(batch *pgx.Batch, user int64, id store.MailboxID) {
	batch.Queue(`WITH v AS MATERIALIZED (
			SELECT nextval('contents_id_seq') AS cid, u.* FROM unnest($2::text[], $3::bigint[], $4::bigint[],
				$5::integer[], $6::text[], $7::text[], $8::bytea[], $9::bytea[], $10::text[],
				$12::bigint[], $13::bigint[], $14::smallint[], $15::text[], $16::bigint[])
			WITH ORDINALITY AS u(blob_id, size, internaldate, zone, email_id, thread_id, structure, sort_keys,
				preview, uid, modseq, flags, keywords, savedate, ord)),
		c AS (INSERT INTO contents
			(id, user_id, blob_id, size, internaldate, internaldate_zone, email_id, thread_id, structure, sort_keys, preview)
			SELECT cid, $1, blob_id, size, internaldate, zone, email_id, thread_id, structure, sort_keys, preview
			FROM v ORDER BY ord)
		INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, savedate, size, content_id)
			SELECT $11, uid, modseq, flags, string_to_array(keywords, ' '), savedate, size, cid FROM v ORDER BY ord`,
		user, r.blobIDs, r.sizes, r.dates, r.zones, r.emailIDs, r.threadIDs, r.structures, r.sortKeys, r.previews,
		id, r.uids, r.modseqs, r.flags, r.keywords, r.saved)
}

// storeBodies stores the bodies of a batch whose content is not stored
// yet, claiming each bodies row with INSERT ... ON CONFLICT DO NOTHING
// and writing the parts only of the rows it created, so the same bytes are
// never written twice. Bodies of one part go in one statement queued on
// batch with the message rows (no round trip of their own: the rows it
// creates select the parts to insert); a larger body is claimed first and
// then written part by part from its spool, never held whole.
func (t *writeTx) storeBodies(prepared []preparedMessage, batch *pgx.Batch) error {
	var ids, bigIDs []string
	var sizes, bigSizes []int64
	var datas [][]byte
	first := map[string]int{}
	for i, p := range prepared {
		if p.body == nil {
			continue // a Replica's message by hash: its bytes are stored
		}
		if _, ok := first[p.blobID]; ok {
			continue
		}
		first[p.blobID] = i
		if p.size > partSize {
			bigIDs = append(bigIDs, p.blobID)
			bigSizes = append(bigSizes, p.size)
			continue
		}
		data := make([]byte, p.size)
		if _, err := p.body.ReadAt(data, 0); err != nil && err != io.EOF {
			return fmt.Errorf("store body: %w", err)
		}
		ids = append(ids, p.blobID)
		sizes = append(sizes, p.size)
		datas = append(datas, data)
	}
	if len(ids) > 0 {
		batch.Queue(`WITH created AS (INSERT INTO bodies (id, size) SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (id) DO NOTHING RETURNING id)
			INSERT INTO body_parts (body_id, part, data)
			SELECT b.id, 0, b.data FROM unnest($1::text[], $3::bytea[]) AS b(id, data) JOIN created c ON c.id = b.id`,
			ids, sizes, datas)
	}
	if len(bigIDs) == 0 {
		return nil
	}
	rows, err := t.tx.Query(t.ctx, `INSERT INTO bodies (id, size) SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT (id) DO NOTHING RETURNING id`, bigIDs, bigSizes)
	if err != nil {
		return fmt.Errorf("store bodies: %w", err)
	}
	created, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("store bodies: %w", err)
	}
	buf := make([]byte, partSize)
	for _, id := range created {
		p := prepared[first[id]]
		for part, off := 0, int64(0); off < p.size; part++ {
			n := min(int64(len(buf)), p.size-off)
			if _, err := p.body.ReadAt(buf[:n], off); err != nil && err != io.EOF {
				return fmt.Errorf("store body: %w", err)
			}
			if _, err := t.tx.Exec(t.ctx, `INSERT INTO body_parts (body_id, part, data) VALUES ($1, $2, $3)`, id, part, buf[:n]); err != nil {
				return fmt.Errorf("store body: %w", err)
			}
			off += n
		}
	}
	return nil
}

// counterDelta is a change to a mailbox's STATUS counters.
type counterDelta struct {
	messages, unseen, deleted, size int64
}

// add counts a message with flags f and the given size, sign +1 when it
// arrives and -1 when it leaves.
func (d *counterDelta) add(f store.SystemFlags, size int64, sign int64) {
	d.messages += sign
	d.size += sign * size
	if f&store.FlagSeen == 0 {
		d.unseen += sign
	}
	if f&store.FlagDeleted != 0 {
		d.deleted += sign
	}
}

func (t *writeTx) applyCounters(id store.MailboxID, d counterDelta) error {
	if d == (counterDelta{}) {
		return nil
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET messages = messages + $1, unseen = unseen + $2,
		deleted = deleted + $3, size = size + $4 WHERE id = $5`, d.messages, d.unseen, d.deleted, d.size, id)
	if err != nil {
		return fmt.Errorf("update counters: %w", err)
	}
	return nil
}

// threadIDs returns the thread each new message joins (RFC 8474
// THREADID), as if they arrived one after the other: the thread of the
// first of its ids (its own, then those it refers to) that is known, else
// a new one; every id it names is then recorded in that thread unless it
// already has one. The whole batch costs one lookup; the insert is queued
// on batch.
func (t *writeTx) threadIDs(prepared []preparedMessage, batch *pgx.Batch) ([]string, error) {
	per := make([][]string, len(prepared))
	var all []string
	for i, p := range prepared {
		per[i] = uniqueStringsKeepOrder(p.thread.IDs())
		all = append(all, per[i]...)
	}
	known := map[string]string{}
	if len(all) > 0 {
		rows, err := t.tx.Query(t.ctx, `SELECT message_id, thread_id FROM thread_refs WHERE user_id = $1 AND message_id = ANY($2)`,
			t.userID, uniqueStrings(all))
		if err != nil {
			return nil, fmt.Errorf("thread lookup: %w", err)
		}
		for rows.Next() {
			var m, th string
			if err := rows.Scan(&m, &th); err != nil {
				rows.Close()
				return nil, err
			}
			known[m] = th
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(prepared))
	var newIDs, newThreads []string
	for i, ids := range per {
		// A kept THREADID (a Replica's) still gathers the replies that
		// come later.
		thread := prepared[i].threadID
		for _, id := range ids {
			if thread != "" {
				break
			}
			if th, ok := known[id]; ok {
				thread = th
				break
			}
		}
		if thread == "" {
			thread = store.NewObjectID('T')
		}
		out[i] = thread
		for _, id := range ids {
			if _, ok := known[id]; !ok {
				known[id] = thread
				newIDs = append(newIDs, id)
				newThreads = append(newThreads, thread)
			}
		}
	}
	if len(newIDs) > 0 {
		batch.Queue(`INSERT INTO thread_refs (user_id, message_id, thread_id)
			SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT DO NOTHING`, t.userID, newIDs, newThreads)
	}
	return out, nil
}

func uniqueStringsKeepOrder(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func uniqueStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func sortUIDs(u []store.UID) { slices.Sort(u) }

// uidBounds turns a UID set into parallel arrays of range bounds for
// queries of the form "uid BETWEEN lo[i] AND hi[i] for some i".
func uidBounds(uids store.UIDSet) (lo, hi []int64) {
	for _, r := range uids {
		lo = append(lo, int64(r.Start))
		hi = append(hi, int64(r.Stop))
	}
	return lo, hi
}

var _ = context.Background
