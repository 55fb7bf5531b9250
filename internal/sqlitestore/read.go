package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// readTx runs fn in a read transaction: one consistent snapshot of the
// database (WAL readers never block the writer).
// What it read is durable when it returns (readBarrier).
func (u *userDB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if u.gone.Load() {
		return u.errDeleted()
	}
	tx, err := u.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer u.readBarrier(ctx, &err)
	defer tx.Rollback()
	return fn(tx)
}

// Snapshot returns every message's UID, modseq and flags, ascending by UID,
// consistent with the mailbox's HIGHESTMODSEQ: one read transaction that
// decodes the mailbox's chunks in UID order.
func (a *Account) Snapshot(ctx context.Context, id store.MailboxID) (store.Snapshot, error) {
	var snap store.Snapshot
	err := a.u.readTx(ctx, func(tx *sql.Tx) error {
		q := a.u.readQ(tx)
		mb, err := lookupID(ctx, q, id)
		if err != nil {
			return err
		}
		snap.Mailbox = mb.MailboxInfo
		snap.Messages = make([]store.MessageState, 0, mb.Messages)
		rows, err := q.QueryContext(ctx,
			`SELECT max_modseq, data FROM message_chunks WHERE mailbox_id = ? ORDER BY first_uid`, id)
		if err != nil {
			return err
		}
		kwr := a.u.readResolver(ctx, tx)
		snap.Messages, err = scanStates(rows, kwr, 0, snap.Messages)
		return err
	})
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	return snap, nil
}

func (u *userDB) readResolver(ctx context.Context, tx *sql.Tx) *kwResolver {
	return &kwResolver{c: u.kw, rc: readCtx{ctx: ctx, q: tx}}
}

// scanStates decodes rows of (max_modseq, data) and appends the entries
// with a modseq above since to out.
func scanStates(rows *sql.Rows, kwr *kwResolver, since store.ModSeq, out []store.MessageState) ([]store.MessageState, error) {
	defer rows.Close()
	var data sql.RawBytes
	var maxModSeq store.ModSeq
	lastKW, lastList := kwSetID(0), []string(nil)
	add := func(e entry) error {
		if e.modseq <= since {
			return nil
		}
		if e.kw != lastKW {
			kw, err := kwr.keywords(e.kw)
			if err != nil {
				return err
			}
			lastKW, lastList = e.kw, kw
		}
		out = append(out, store.MessageState{UID: e.uid, ModSeq: e.modseq, Flags: store.Flags{System: e.flags, Keywords: lastList}})
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(&maxModSeq, &data); err != nil {
			return nil, err
		}
		if err := decodeChunk(data, maxModSeq, add); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// ChangesSince answers "what changed after since" with two index range
// scans, message_chunks (mailbox_id, max_modseq) and tombstones
// (mailbox_id, modseq), so its cost follows the number of changed chunks,
// not the size of the mailbox. Below the mailbox's PrunedBelow the
// vanished set is a superset computed from the UIDs that exist (RFC 7162
// 3.2.5.2), which does read the whole UID list.
func (a *Account) ChangesSince(ctx context.Context, id store.MailboxID, since store.ModSeq) (store.Changes, error) {
	var ch store.Changes
	err := a.u.readTx(ctx, func(tx *sql.Tx) (err error) {
		ch, err = a.u.changesIn(ctx, tx, id, since)
		return err
	})
	if err != nil {
		return store.Changes{}, fmt.Errorf("changes since %d: %w", since, err)
	}
	return ch, nil
}

// changesIn is ChangesSince within the read transaction tx.
func (u *userDB) changesIn(ctx context.Context, tx *sql.Tx, id store.MailboxID, since store.ModSeq) (store.Changes, error) {
	var ch store.Changes
	q := u.readQ(tx)
	mb, err := lookupID(ctx, q, id)
	if err != nil {
		return ch, err
	}
	ch.Mailbox = mb.MailboxInfo
	ch.PrunedBelow = mb.prunedBelow
	ch.Exact = since >= mb.prunedBelow
	if since >= mb.HighestModSeq {
		return ch, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT max_modseq, data FROM message_chunks INDEXED BY message_chunks_modseq
		WHERE mailbox_id = ? AND max_modseq > ?`, id, since)
	if err != nil {
		return ch, err
	}
	if ch.Changed, err = scanStates(rows, u.readResolver(ctx, tx), since, nil); err != nil {
		return ch, err
	}
	sortStates(ch.Changed)
	if !ch.Exact {
		ch.Vanished, err = missingUIDs(ctx, tx, id, mb.UIDNext)
		return ch, err
	}
	rows, err = q.QueryContext(ctx, `SELECT uid_start, uid_stop FROM tombstones INDEXED BY tombstones_modseq
		WHERE mailbox_id = ? AND modseq > ?`, id, since)
	if err != nil {
		return ch, err
	}
	defer rows.Close()
	var ranges []store.UIDRange
	for rows.Next() {
		var r store.UIDRange
		if err := rows.Scan(&r.Start, &r.Stop); err != nil {
			return ch, err
		}
		ranges = append(ranges, r)
	}
	if err := rows.Err(); err != nil {
		return ch, err
	}
	slices.SortFunc(ranges, func(a, b store.UIDRange) int { return int(int64(a.Start) - int64(b.Start)) })
	for _, r := range ranges {
		ch.Vanished.AddRange(r.Start, r.Stop)
	}
	return ch, nil
}

// missingUIDs returns 1..uidNext-1 minus the UIDs that exist.
func missingUIDs(ctx context.Context, tx *sql.Tx, id store.MailboxID, uidNext store.UID) (store.UIDSet, error) {
	var set store.UIDSet
	rows, err := tx.QueryContext(ctx, `SELECT max_modseq, data FROM message_chunks WHERE mailbox_id = ? ORDER BY first_uid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	next := store.UID(1)
	var data sql.RawBytes
	var maxModSeq store.ModSeq
	for rows.Next() {
		if err := rows.Scan(&maxModSeq, &data); err != nil {
			return nil, err
		}
		err := decodeChunk(data, maxModSeq, func(e entry) error {
			if e.uid > next {
				set.AddRange(next, e.uid-1)
			}
			next = e.uid + 1
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if next < uidNext {
		set.AddRange(next, uidNext-1)
	}
	return set, nil
}

// messagesPage is how many messages Messages reads per query; fn runs
// between queries, never while the database is being read.
const messagesPage = 256

// messagesPageBytes ends a page early once the stored structures and
// bodies read for it pass this many bytes, so that a page of messages
// with big structures (many parts, huge headers) holds a bounded amount
// of memory.
const messagesPageBytes = 4 << 20

// Messages calls fn for each existing message of uids in ascending UID
// order. Messages are read a page at a time and fn is called with no
// statement open, so a slow fn holds nothing in the database.
func (a *Account) Messages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageData) error) error {
	return a.u.readMessages(ctx, id, uids, store.FieldsAll&^store.FieldBody, message.DecodeAll, nil, fn)
}

// ReadMessages is Messages reading only what fields asks for, into one
// page of buffers reused from page to page: the rows of a page come from
// one statement, inline bodies included (FieldBody), and its structures
// are decoded from one string. Unlike Messages, it computes the preview of
// a message whose row keeps none (every message stored since schema
// version 14, see summary.go) from the body read with the row.
func (a *Account) ReadMessages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fields store.Fields, fn func(*store.MessageData) error) error {
	what := message.DecodeEnvelope
	if fields&(store.FieldStructure|store.FieldPreview) != 0 {
		what = message.DecodeTree // a preview finds its part in the tree
		if fields&store.FieldEnvelope != 0 {
			what = message.DecodeForFetch
		}
	}
	p := pages.Get().(*page)
	defer p.release()
	return a.u.readMessages(ctx, id, uids, fields|fieldComputePreview, what, p, fn)
}

// fieldComputePreview, beside the store's fields, asks readPage to compute
// the previews a row does not keep: ReadMessages (FETCH) does, Messages
// (SEARCH, SORT, STATUS and the other scans) does not, so that a scan of a
// mailbox never decompresses every body for a preview it does not use.
const fieldComputePreview store.Fields = 1 << 7

// pages keeps the buffers of ReadMessages for the next call.
var pages = sync.Pool{New: func() any { return new(page) }}

// maxPooledBytes is the most buffer space a page may hold and still be
// kept for reuse: a read of big structures or bodies does not pin its
// buffers.
const maxPooledBytes = 1 << 20

// release forgets what the page's messages point to and puts it back in
// pages, unless its buffers grew large.
func (p *page) release() {
	if cap(p.raw)+cap(p.bodies)+cap(p.scratch) > maxPooledBytes {
		return
	}
	clear(p.msgs[:cap(p.msgs)])
	clear(p.sts[:cap(p.sts)])
	p.slab.Reset(0)
	p.msgs, p.sts = p.msgs[:0], p.sts[:0]
	pages.Put(p)
}

// readMessages runs Messages and ReadMessages, decoding what of the
// structures: with reuse nil every page is new, so fn may keep what it is
// given.
func (u *userDB) readMessages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fields store.Fields, what message.Decoding, reuse *page, fn func(*store.MessageData) error) error {
	if err := store.CheckUIDs(uids); err != nil {
		return err
	}
	// The bodies the messages name stay readable until this returns, even
	// if the messages are expunged meanwhile (reclaim.go).
	reader := u.rc.readers.enter()
	defer u.rc.readers.exit(reader)
	if _, err := lookupID(ctx, dbStmts{u.rstmts}, id); err != nil {
		return err
	}
	for _, r := range uids {
		lo := r.Start
		for {
			p := reuse
			if p == nil {
				p = new(page)
			}
			more, err := u.readPage(ctx, id, lo, r.Stop, fields, what, p)
			if err != nil {
				return err
			}
			if len(p.msgs) == 0 {
				break
			}
			last := p.msgs[len(p.msgs)-1].UID
			for i := range p.msgs {
				if err := fn(&p.msgs[i]); err != nil {
					return err
				}
			}
			if !more || last >= r.Stop {
				break
			}
			lo = last + 1
		}
	}
	return nil
}

// page is one page of messages read by readPage, with the buffers its
// structures and bodies were read into.
type page struct {
	msgs    []store.MessageData
	sts     []message.Structure
	slab    message.Slab // the parts of sts's trees, for ReadMessages
	spans   []pageSpans
	raw     []byte // the page's stored structures, unpacked, end to end
	bodies  []byte // the page's inline bodies, unpacked, end to end
	scratch []byte // for decompressing
	readers []bytes.Reader
	zone    *time.Location // the last zone made, reused while offsets repeat
	zoneOff int
}

// pageSpans locate one message's structure in page.raw and body in
// page.bodies (bodyEnd < 0: not read with the row).
type pageSpans struct{ rawStart, rawEnd, bodyStart, bodyEnd int }

// pageQuery returns the statement reading a page with fields: the UID,
// then only the columns fields asks for, in the order readPage scans
// them. Every column costs a call into SQLite and a conversion per row,
// a text column an allocation: a FETCH of BODYSTRUCTURE reads two.
// Computing previews reads the structure, and the inline body of each
// row that keeps no preview.
func pageQuery(fields store.Fields) string {
	var b strings.Builder
	compute := fields&store.FieldPreview != 0 && fields&fieldComputePreview != 0
	b.WriteString(`SELECT m.uid`)
	contents := false
	col := func(name string, fromContents bool) {
		b.WriteString(", ")
		b.WriteString(name)
		contents = contents || fromContents
	}
	if fields&store.FieldDates != 0 {
		col(`m.savedate`, false)
		col(`c.internaldate`, true)
		col(`c.internaldate_zone`, true)
	}
	if fields&store.FieldSize != 0 {
		col(`m.size`, false)
	}
	if readsBlobID(fields) {
		col(`c.blob_id`, true)
	}
	if fields&store.FieldIDs != 0 {
		col(`c.email_id`, true)
		col(`c.thread_id`, true)
	}
	if readsStructure(fields) {
		col(`c.structure`, true)
	}
	if fields&store.FieldPreview != 0 {
		col(`c.preview`, true)
	}
	switch {
	case fields&store.FieldBody != 0:
		col(`b.data`, true)
	case compute:
		col(`CASE WHEN c.preview IS NULL THEN b.data END`, true)
	}
	b.WriteString(` FROM messages m`)
	if contents {
		b.WriteString(` JOIN contents c ON c.id = m.content_id`)
	}
	if fields&store.FieldBody != 0 || compute {
		b.WriteString(` LEFT JOIN bodies b ON b.id = c.blob_id`)
	}
	b.WriteString(` WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid LIMIT ?`)
	return b.String()
}

// readsBlobID reports whether a page read with fields reads the blob
// ids: what may open the bytes needs them.
func readsBlobID(fields store.Fields) bool {
	return fields&(store.FieldBody|store.FieldPreview) != 0
}

// pageQueries holds pageQuery for every combination of fields.
var pageQueries = func() (q [256]string) {
	for f := range q {
		q[f] = pageQuery(store.Fields(f))
	}
	return q
}()

// readPage reads up to messagesPage messages of UIDs lo..hi into p in one
// read transaction: the per-message rows with their contents (and inline
// bodies), then the chunks holding their mutable state. more reports that
// the page was cut short (by count or by messagesPageBytes) and later UIDs
// may follow. Structures are decoded shallow: the part tree is built only
// if a command asks.
func (u *userDB) readPage(ctx context.Context, id store.MailboxID, lo, hi store.UID, fields store.Fields, what message.Decoding, p *page) (more bool, _ error) {
	withPreview := fields&store.FieldPreview != 0
	computePreview := withPreview && fields&fieldComputePreview != 0
	withStructure := readsStructure(fields)
	withBody := fields&store.FieldBody != 0 || computePreview
	err := u.readTx(ctx, func(tx *sql.Tx) error {
		p.msgs, p.spans, p.raw, p.bodies, more = p.msgs[:0], p.spans[:0], p.raw[:0], p.bodies[:0], false
		rows, err := u.readQ(tx).QueryContext(ctx, pageQueries[fields], id, lo, hi, messagesPage)
		if err != nil {
			return err
		}
		defer rows.Close()
		// Integers scan into int64: database/sql converts to the other
		// integer types (store.UID) through a formatted string.
		var uid, saved, date, zone int64
		var structure, body sql.RawBytes
		var preview sql.NullString
		withDates, withSize, withBlobID, withIDs := fields&store.FieldDates != 0, fields&store.FieldSize != 0, readsBlobID(fields), fields&store.FieldIDs != 0
		dest := make([]any, 0, 12)
		for rows.Next() {
			p.msgs = append(p.msgs, store.MessageData{})
			m := &p.msgs[len(p.msgs)-1]
			dest = append(dest[:0], &uid)
			if withDates {
				dest = append(dest, &saved, &date, &zone)
			}
			if withSize {
				dest = append(dest, &m.Size)
			}
			if withBlobID {
				dest = append(dest, &m.BlobID)
			}
			if withIDs {
				dest = append(dest, &m.EmailID, &m.ThreadID)
			}
			if withStructure {
				dest = append(dest, &structure)
			}
			if withPreview {
				dest = append(dest, &preview)
			}
			if withBody {
				dest = append(dest, &body)
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			m.UID = store.UID(uid)
			m.Preview, m.HasPreview = preview.String, preview.Valid
			if withDates {
				m.SaveDate = time.Unix(saved, 0)
				m.InternalDate = time.Unix(date, 0).In(p.location(int(zone)))
			}
			sp := pageSpans{rawStart: len(p.raw), bodyEnd: -1}
			if withStructure {
				if p.raw, err = bodypack.AppendUnpacked(p.raw, &p.scratch, structure); err != nil {
					return fmt.Errorf("message %d structure: %w", m.UID, err)
				}
			}
			sp.rawEnd = len(p.raw)
			if body != nil && fields&store.FieldBody == 0 && !m.HasPreview {
				// Read for its preview only: not even decompressed when
				// the preview was computed before.
				if pv, ok := u.previews.get(m.BlobID); ok {
					m.Preview, m.HasPreview = pv, true
					body = nil
				}
			}
			if withBody && body != nil {
				sp.bodyStart = len(p.bodies)
				if fields&store.FieldBody != 0 {
					// Bytes to send: a FETCH of the same messages again
					// copies them from the cache (bodycache.go).
					p.bodies, err = bodies.appendBody(p.bodies, m.BlobID, body)
				} else {
					p.bodies, err = bodypack.AppendUnpacked(p.bodies, &p.scratch, body)
				}
				if err != nil {
					return fmt.Errorf("read body %s: %w", m.BlobID, err)
				}
				sp.bodyEnd = len(p.bodies)
			}
			p.spans = append(p.spans, sp)
			if len(p.raw)+len(p.bodies) > messagesPageBytes {
				more = true
				break
			}
		}
		if len(p.msgs) == messagesPage {
			more = true
		}
		if err := rows.Err(); err != nil || len(p.msgs) == 0 {
			return err
		}
		rows.Close()
		return u.fillStates(ctx, tx, id, len(p.msgs), func(i int) *store.MessageData { return &p.msgs[i] })
	})
	if err != nil {
		return false, fmt.Errorf("messages: %w", err)
	}
	if err := p.decode(fields, what); err != nil {
		return false, err
	}
	if computePreview {
		u.computePreviews(p)
	}
	if fields&store.FieldBody == 0 {
		for i := range p.msgs {
			p.msgs[i].Body = nil // read for a preview only
		}
	}
	if fields&(store.FieldEnvelope|store.FieldStructure) == 0 {
		for i := range p.msgs {
			p.msgs[i].Structure = nil // read for a preview only
		}
	}
	return more, nil
}

// computePreviews sets the preview of each message of the page whose row
// keeps none, from its structure and its body: read with the row when
// inline, else opened from its blob file. A preview that cannot be made
// (a part that does not decode, a file that does not open) is left unset,
// HasPreview false, for the caller to report as it reads the message.
func (u *userDB) computePreviews(p *page) {
	for i := range p.msgs {
		m := &p.msgs[i]
		if m.HasPreview || m.Structure == nil {
			continue
		}
		if pv, ok := u.previews.get(m.BlobID); ok {
			m.Preview, m.HasPreview = pv, true
			continue
		}
		if sp := p.spans[i]; sp.bodyEnd >= 0 {
			setPreview(m, bytes.NewReader(p.bodies[sp.bodyStart:sp.bodyEnd]))
		} else if f, err := u.blobs.Open(m.BlobID); err == nil {
			setPreview(m, f)
			f.Close()
		}
		if m.HasPreview {
			u.previews.put(m.BlobID, m.Preview)
		}
	}
}

func setPreview(m *store.MessageData, body io.ReaderAt) {
	if pv, err := message.Preview(m.Structure, body); err == nil {
		m.Preview, m.HasPreview = pv, true
	}
}

// readsStructure reports whether a page read with fields reads the
// stored structures.
func readsStructure(fields store.Fields) bool {
	return fields&(store.FieldEnvelope|store.FieldStructure) != 0 ||
		fields&store.FieldPreview != 0 && fields&fieldComputePreview != 0
}

// decode sets the page's structures and bodies from its buffers.
func (p *page) decode(fields store.Fields, what message.Decoding) error {
	if readsStructure(fields) {
		p.sts = slices.Grow(p.sts[:0], len(p.msgs))[:len(p.msgs)]
		src := string(p.raw) // one copy per page, which every string is cut from
		// A FETCH that reads the part trees uses them all: build them
		// now, in one walk each, their parts taken from the page's.
		eager := fields&fieldComputePreview != 0 && what != message.DecodeEnvelope
		if eager {
			p.slab.Reset(3 * len(p.msgs))
		}
		for i := range p.msgs {
			sp := p.spans[i]
			var err error
			if eager {
				err = p.sts[i].DecodeInto(src[sp.rawStart:sp.rawEnd], what, &p.slab)
			} else {
				err = p.sts[i].DecodeShallow(src[sp.rawStart:sp.rawEnd], what)
			}
			if err != nil {
				return fmt.Errorf("messages: message %d structure: %w", p.msgs[i].UID, err)
			}
			p.msgs[i].Structure = &p.sts[i]
		}
	}
	if fields&(store.FieldBody|fieldComputePreview) != 0 {
		p.readers = slices.Grow(p.readers[:0], len(p.msgs))[:len(p.msgs)]
		for i := range p.msgs {
			if sp := p.spans[i]; sp.bodyEnd >= 0 {
				p.readers[i].Reset(p.bodies[sp.bodyStart:sp.bodyEnd])
				p.msgs[i].Body = inlineBody{&p.readers[i]}
			}
		}
	}
	return nil
}

// location returns a fixed zone of offset seconds, made once for a run of
// messages with the same offset.
func (p *page) location(offset int) *time.Location {
	if p.zone == nil || p.zoneOff != offset {
		p.zone, p.zoneOff = time.FixedZone("", offset), offset
	}
	return p.zone
}

// fillStates sets the modseq and flags of n UID-ordered messages (at(i)
// is the i-th) from the chunks that hold them.
func (u *userDB) fillStates(ctx context.Context, tx *sql.Tx, id store.MailboxID, n int, at func(i int) *store.MessageData) error {
	rows, err := u.readQ(tx).QueryContext(ctx, chunksQuery, id, at(0).UID, at(n-1).UID)
	if err != nil {
		return err
	}
	defer rows.Close()
	kwr := u.readResolver(ctx, tx)
	i := 0
	for rows.Next() && i < n {
		c, err := scanChunk(rows, id)
		if err != nil {
			return err
		}
		for _, e := range c.entries {
			for i < n && at(i).UID < e.uid {
				i++ // no chunk entry: reported by Check; left with zero state
			}
			if i == n {
				break
			}
			if m := at(i); m.UID == e.uid {
				kw, err := kwr.keywords(e.kw)
				if err != nil {
					return err
				}
				m.MessageState = store.MessageState{UID: e.uid, ModSeq: e.modseq, Flags: store.Flags{System: e.flags, Keywords: kw}}
				i++
			}
		}
	}
	return rows.Err()
}

// OpenBlob opens a message's bytes, stored inline or in a blob file.
func (a *Account) OpenBlob(ctx context.Context, blobID string) (store.Blob, error) {
	return a.u.openBody(ctx, blobID)
}

// Usage adds up the mailbox counters.
func (a *Account) Usage(ctx context.Context) (store.Usage, error) {
	var u store.Usage
	err := a.u.r.QueryRowContext(ctx,
		`SELECT coalesce(sum(messages), 0), coalesce(sum(size), 0) FROM mailboxes`).Scan(&u.Messages, &u.Bytes)
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	return u, nil
}

func sortUIDs(u []store.UID) {
	slices.Sort(u)
}
