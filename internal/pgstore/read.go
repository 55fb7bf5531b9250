package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// snapshotRead runs fn in a REPEATABLE READ, read-only transaction: every
// statement of fn sees the same committed state, so a mailbox row and the
// messages read after it agree even while other nodes commit.
func (a *Account) snapshotRead(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, a.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Snapshot returns every message's UID, modseq and flags, ascending by UID,
// consistent with the mailbox's HIGHESTMODSEQ.
func (a *Account) Snapshot(ctx context.Context, id store.MailboxID) (store.Snapshot, error) {
	var snap store.Snapshot
	err := a.snapshotRead(ctx, func(tx pgx.Tx) error {
		mb, err := lookupID(ctx, tx, a.id, id)
		if err != nil {
			return err
		}
		snap.Mailbox = mb.MailboxInfo
		rows, err := tx.Query(ctx, `SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = $1 ORDER BY uid`, id)
		if err != nil {
			return err
		}
		snap.Messages, err = pgx.AppendRows(make([]store.MessageState, 0, mb.Messages), rows, scanState)
		return err
	})
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	return snap, nil
}

// ChangesSince answers "what changed after since" with index range scans
// of message_changes and tombstones (both by mailbox_id, modseq), then of
// messages by UID over the ranges the log names, in one snapshot. Below the mailbox's PrunedBelow the vanished set is a
// superset computed from the UIDs that exist (RFC 7162 3.2.5.2).
func (a *Account) ChangesSince(ctx context.Context, id store.MailboxID, since store.ModSeq) (store.Changes, error) {
	var ch store.Changes
	err := a.snapshotRead(ctx, func(tx pgx.Tx) (err error) {
		ch, err = a.changesIn(ctx, tx, id, since)
		return err
	})
	if err != nil {
		return store.Changes{}, fmt.Errorf("changes since %d: %w", since, err)
	}
	return ch, nil
}

// changesIn is ChangesSince within the snapshot tx.
func (a *Account) changesIn(ctx context.Context, tx pgx.Tx, id store.MailboxID, since store.ModSeq) (store.Changes, error) {
	var ch store.Changes
	mb, err := lookupID(ctx, tx, a.id, id)
	if err != nil {
		return ch, err
	}
	ch.Mailbox = mb.MailboxInfo
	ch.PrunedBelow = mb.prunedBelow
	ch.Exact = since >= mb.prunedBelow
	if since >= mb.HighestModSeq {
		return ch, nil
	}
	maybe, err := changedUIDs(ctx, tx, id, since)
	if err != nil {
		return ch, err
	}
	if len(maybe) > 0 {
		lo, hi := uidBounds(maybe)
		rows, err := tx.Query(ctx, changedStatesQuery, id, lo, hi, since)
		if err != nil {
			return ch, err
		}
		if ch.Changed, err = pgx.CollectRows(rows, scanState); err != nil {
			return ch, err
		}
	}
	if len(ch.Changed) == 0 {
		ch.Changed = nil
	}
	var rows pgx.Rows
	if !ch.Exact {
		ch.Vanished, err = missingUIDs(ctx, tx, id, mb.UIDNext)
		return ch, err
	}
	rows, err = tx.Query(ctx, `SELECT uid_start, uid_stop FROM tombstones
		WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid_start`, id, since)
	if err != nil {
		return ch, err
	}
	defer rows.Close()
	for rows.Next() {
		var r store.UIDRange
		if err := rows.Scan(&r.Start, &r.Stop); err != nil {
			return ch, err
		}
		ch.Vanished.AddRange(r.Start, r.Stop)
	}
	return ch, rows.Err()
}

// missingUIDs returns 1..uidNext-1 minus the UIDs that exist.
func missingUIDs(ctx context.Context, tx pgx.Tx, id store.MailboxID, uidNext store.UID) (store.UIDSet, error) {
	rows, err := tx.Query(ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var set store.UIDSet
	next := store.UID(1)
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		if u > next {
			set.AddRange(next, u-1)
		}
		next = u + 1
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
// between queries, never while a query is open.
const messagesPage = 256

// Messages calls fn for each existing message of uids in ascending UID
// order, a page at a time.
func (a *Account) Messages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageData) error) error {
	return a.readMessages(ctx, id, uids, store.FieldStructure|store.FieldPreview, message.DecodeAll, fn)
}

// ReadMessages is Messages reading only the columns fields needs; with
// FieldBody the first part of each body comes with its row, so a small
// message needs no query of its own.
func (a *Account) ReadMessages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fields store.Fields, fn func(*store.MessageData) error) error {
	what := message.DecodeEnvelope
	if fields&store.FieldStructure != 0 {
		what = message.DecodeForFetch
	}
	return a.readMessages(ctx, id, uids, fields, what, fn)
}

// readMessages runs Messages and ReadMessages, decoding what of the
// structures.
func (a *Account) readMessages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fields store.Fields, what message.Decoding, fn func(*store.MessageData) error) error {
	if err := store.CheckUIDs(uids); err != nil {
		return err
	}
	if _, err := lookupID(ctx, a.s.pool, a.id, id); err != nil {
		return err
	}
	for _, r := range uids {
		lo := r.Start
		for {
			page, err := a.messagePage(ctx, id, lo, r.Stop, fields, what)
			if err != nil {
				return err
			}
			for _, m := range page {
				if err := fn(m); err != nil {
					return err
				}
			}
			if len(page) < messagesPage || page[len(page)-1].UID >= r.Stop {
				break
			}
			lo = page[len(page)-1].UID + 1
		}
	}
	return nil
}

// pageQuery returns the statement reading a page with fields: the columns
// of every read, then the structure, the preview, and the body's size and
// first part when asked for (in that order).
func pageQuery(fields store.Fields) string {
	var b strings.Builder
	b.WriteString(`SELECT m.uid, m.modseq, m.flags, m.keywords, m.savedate, m.size,
		c.blob_id, c.email_id, c.thread_id, c.internaldate, c.internaldate_zone`)
	if fields&(store.FieldEnvelope|store.FieldStructure) != 0 {
		b.WriteString(`, c.structure`)
	}
	if fields&store.FieldPreview != 0 {
		b.WriteString(`, c.preview`)
	}
	if fields&store.FieldBody != 0 {
		b.WriteString(`, b.size, p.data`)
	}
	b.WriteString(` FROM messages m JOIN contents c ON c.id = m.content_id`)
	if fields&store.FieldBody != 0 {
		b.WriteString(` LEFT JOIN bodies b ON b.id = c.blob_id LEFT JOIN body_parts p ON p.body_id = b.id AND p.part = 0`)
	}
	b.WriteString(` WHERE m.mailbox_id = $1 AND m.uid BETWEEN $2 AND $3 ORDER BY m.uid LIMIT $4`)
	return b.String()
}

func (a *Account) messagePage(ctx context.Context, id store.MailboxID, lo, hi store.UID, fields store.Fields, what message.Decoding) ([]*store.MessageData, error) {
	withStructure := fields&(store.FieldEnvelope|store.FieldStructure) != 0
	withPreview := fields&store.FieldPreview != 0
	withBody := fields&store.FieldBody != 0
	rows, err := a.s.pool.Query(ctx, pageQuery(fields), id, lo, hi, messagesPage)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.MessageData, error) {
		m := new(store.MessageData)
		var flags int16
		var kw []string
		var saved, date int64
		var zone int
		var structure []byte
		var preview *string
		var bodySize *int64
		var first []byte
		dest := []any{&m.UID, &m.ModSeq, &flags, &kw, &saved, &m.Size,
			&m.BlobID, &m.EmailID, &m.ThreadID, &date, &zone}
		if withStructure {
			dest = append(dest, &structure)
		}
		if withPreview {
			dest = append(dest, &preview)
		}
		if withBody {
			dest = append(dest, &bodySize, &first)
		}
		if err := r.Scan(dest...); err != nil {
			return nil, err
		}
		if preview != nil {
			m.Preview, m.HasPreview = *preview, true
		}
		m.Flags.System = store.SystemFlags(flags)
		if len(kw) > 0 {
			m.Flags.Keywords = kw
		}
		m.SaveDate = time.Unix(saved, 0)
		m.InternalDate = time.Unix(date, 0).In(time.FixedZone("", zone))
		if withStructure {
			m.Structure = new(message.Structure)
			if err := m.Structure.DecodeShallow(string(structure), what); err != nil {
				return nil, fmt.Errorf("message %d structure: %w", m.UID, err)
			}
		}
		if bodySize != nil {
			m.Body = &body{s: a.s, id: m.BlobID, size: *bodySize, part: 0, data: first}
		}
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	return out, nil
}

// OpenBlob opens a message's bytes. Only a body that one of the user's
// own messages names can be opened: bodies are shared between users, but
// knowing a hash gives no access to another user's mail.
func (a *Account) OpenBlob(ctx context.Context, blobID string) (store.Blob, error) {
	var size int64
	var first []byte
	err := a.s.pool.QueryRow(ctx, `SELECT b.size, p.data FROM bodies b
		LEFT JOIN body_parts p ON p.body_id = b.id AND p.part = 0
		WHERE b.id = $1 AND EXISTS (SELECT 1 FROM contents c WHERE c.blob_id = b.id AND c.user_id = $2)`,
		blobID, a.id).Scan(&size, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("body %s: %w", blobID, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("body %s: %w", blobID, err)
	}
	return &body{s: a.s, id: blobID, size: size, part: 0, data: first}, nil
}

// body reads a stored body part by part: at most one part (partSize
// bytes) is held at a time, so a large message streams.
type body struct {
	s    *Store
	id   string
	size int64
	off  int64 // for Read and Seek
	part int64 // the part in data
	data []byte
}

var _ store.Blob = (*body)(nil)

func (b *body) Size() int64  { return b.size }
func (b *body) Close() error { b.data = nil; return nil }

// ReadAt reads from the parts covering off, fetching each once.
func (b *body) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("pgstore: negative offset")
	}
	n := 0
	for n < len(p) && off < b.size {
		part := off / partSize
		if part != b.part || b.data == nil {
			var data []byte
			err := b.s.pool.QueryRow(context.Background(), `SELECT data FROM body_parts WHERE body_id = $1 AND part = $2`,
				b.id, part).Scan(&data)
			if err != nil {
				return n, fmt.Errorf("body %s part %d: %w", b.id, part, err)
			}
			b.part, b.data = part, data
		}
		in := off - part*partSize
		if in >= int64(len(b.data)) {
			return n, fmt.Errorf("body %s part %d: short", b.id, part)
		}
		c := copy(p[n:], b.data[in:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b *body) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	n, err := b.ReadAt(p, b.off)
	b.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (b *body) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	default:
		return 0, errors.New("pgstore: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("pgstore: negative position")
	}
	b.off = offset
	return offset, nil
}

// Usage adds up the mailbox counters.
func (a *Account) Usage(ctx context.Context) (store.Usage, error) {
	var u store.Usage
	err := a.s.pool.QueryRow(ctx,
		`SELECT coalesce(sum(messages), 0)::bigint, coalesce(sum(size), 0)::bigint FROM mailboxes WHERE user_id = $1`, a.id).Scan(&u.Messages, &u.Bytes)
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	return u, nil
}
