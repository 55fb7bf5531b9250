package sqlitestore

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// A chunk is one row of message_chunks: the mutable state (UID, modseq,
// system flags, keyword set) of up to chunkMax consecutive messages of a
// mailbox, packed in one blob. A STORE over a whole mailbox rewrites one
// small row per chunkMax messages instead of one row and one index entry
// per message, and a Snapshot decodes packed arrays instead of stepping
// through a row per message.
//
// Chunks of a mailbox never overlap: a chunk holds the messages with UIDs
// first_uid..last_uid, and only the mailbox's last chunk (highest UIDs)
// grows, since new UIDs are always above every existing one. Expunges
// shrink chunks in place, delete empty ones and join neighbours that fit
// in one (mergeChunks).

// chunkMax is how many messages a chunk holds at most. Larger chunks mean
// fewer rows for a STORE or Snapshot over a whole mailbox; smaller ones
// mean fewer entries decoded per changed chunk in ChangesSince. At 256, a
// STORE over 100,000 messages rewrites 391 rows, and 50 scattered changes
// in a 1,000,000-message mailbox cost 1.7 times what they cost in a
// 10,000-message one (docs/benchmarks.md). Tests lower it to exercise
// chunk boundaries.
var chunkMax = 256

// entry is one message's mutable state inside a chunk.
type entry struct {
	uid    store.UID
	flags  store.SystemFlags
	kw     kwSetID
	modseq store.ModSeq
}

// chunk is a decoded message_chunks row.
type chunk struct {
	rowid   int64 // 0 until inserted
	mailbox store.MailboxID
	entries []entry // ascending by UID
	dirty   bool
	// loadedFirst is first_uid as stored when the chunk was read; 0 for a
	// new chunk.
	loadedFirst store.UID
}

// encodeChunk packs entries as the data column (format version 1): per
// entry, in ascending UID order,
//
//	uvarint(uid - previous uid)     (previous uid starts at 0)
//	uvarint(max_modseq - modseq)    (max_modseq is the row's column)
//	byte flags                      (store.SystemFlags)
//	uvarint(keyword set id)         (keyword_sets.id, 0 = no keywords)
//
// so a chunk of consecutive UIDs that one STORE changed costs 4 bytes a
// message.
func encodeChunk(buf []byte, entries []entry, maxModSeq store.ModSeq) []byte {
	buf = buf[:0]
	prev := store.UID(0)
	for _, e := range entries {
		buf = binary.AppendUvarint(buf, uint64(e.uid-prev))
		buf = binary.AppendUvarint(buf, uint64(maxModSeq-e.modseq))
		buf = append(buf, byte(e.flags))
		buf = binary.AppendUvarint(buf, uint64(e.kw))
		prev = e.uid
	}
	return buf
}

var errBadChunk = errors.New("malformed message chunk")

// decodeChunk calls fn for each entry packed in data. It stops at the
// first error fn returns.
func decodeChunk(data []byte, maxModSeq store.ModSeq, fn func(e entry) error) error {
	var e entry
	prev := uint64(0)
	for len(data) > 0 {
		d, n := uvarint(data)
		if n <= 0 || len(data) < n+3 {
			return errBadChunk
		}
		data = data[n:]
		back, n := uvarint(data)
		if n <= 0 || len(data) < n+2 {
			return errBadChunk
		}
		data = data[n:]
		e.flags = store.SystemFlags(data[0])
		data = data[1:]
		kw, n := uvarint(data)
		if n <= 0 {
			return errBadChunk
		}
		data = data[n:]
		prev += d
		if d == 0 || prev > uint64(store.MaxUID) || back >= uint64(maxModSeq) || kw > 1<<32-1 {
			return errBadChunk
		}
		e.uid = store.UID(prev)
		e.modseq = maxModSeq - store.ModSeq(back)
		e.kw = kwSetID(kw)
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// uvarint is binary.Uvarint with the one-byte case inlined: nearly every
// field of a chunk is a single byte.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

func decodeEntries(data []byte, maxModSeq store.ModSeq, out []entry) ([]entry, error) {
	err := decodeChunk(data, maxModSeq, func(e entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// chunkColumns is what scanChunk reads.
const chunkColumns = `id, max_modseq, data`

func scanChunk(r scanner, mailbox store.MailboxID) (*chunk, error) {
	var ms store.ModSeq
	var data sql.RawBytes
	c := &chunk{mailbox: mailbox}
	if err := r.Scan(&c.rowid, &ms, &data); err != nil {
		return nil, err
	}
	var err error
	if c.entries, err = decodeEntries(data, ms, make([]entry, 0, chunkMax)); err != nil {
		return nil, fmt.Errorf("chunk %d: %w", c.rowid, err)
	}
	if len(c.entries) == 0 {
		return nil, fmt.Errorf("chunk %d: %w", c.rowid, errBadChunk)
	}
	c.loadedFirst = c.entries[0].uid
	return c, nil
}

// chunksQuery selects the chunks of mailbox ?1 that may hold UIDs ?2..?3:
// the last one starting at or below ?2 and every one starting inside the
// range. Chunks do not overlap, so no other chunk can.
const chunksQuery = `SELECT ` + chunkColumns + ` FROM message_chunks
	WHERE mailbox_id = ?1 AND first_uid <= ?3
	AND first_uid >= coalesce((SELECT max(first_uid) FROM message_chunks WHERE mailbox_id = ?1 AND first_uid <= ?2), 0)
	ORDER BY first_uid`

// loadChunks returns the chunks of mailbox id that hold any UID of uids,
// ascending, each once.
//
// A set of many ranges (a sequence set 1:* of a mailbox with scattered
// expunges turns into one UID range per run between holes) asks only for
// what the chunks already read do not cover: one query per range read
// and decoded the same chunk once per range in it, which made STORE 1:*
// over 10,000 messages with 2,000 holes cost 12 times as much as over a
// mailbox without holes.
func loadChunks(t *writeTx, id store.MailboxID, uids store.UIDSet) ([]*chunk, error) {
	var out []*chunk
	seen := make(map[int64]bool)
	// Every UID from the first range's start up to covered is in a
	// chunk of out, or in none.
	var covered store.UID
	for i, r := range uids {
		start := r.Start
		if i > 0 {
			if r.Stop <= covered {
				continue
			}
			start = max(start, covered+1)
		}
		covered = r.Stop
		rows, err := t.q.QueryContext(t.ctx, chunksQuery, id, start, r.Stop)
		if err != nil {
			return nil, fmt.Errorf("load chunks: %w", err)
		}
		for rows.Next() {
			c, err := scanChunk(rows, id)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if n := len(c.entries); n > 0 {
				// Chunks never overlap: the UIDs up to this one's last are
				// in it or in an earlier one.
				covered = max(covered, c.entries[n-1].uid)
			}
			if !seen[c.rowid] {
				seen[c.rowid] = true
				out = append(out, c)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// saveChunks writes the dirty chunks back: updated in place, inserted when
// new, deleted when empty.
func (t *writeTx) saveChunks(cs []*chunk) error {
	for _, c := range cs {
		if !c.dirty {
			continue
		}
		if err := t.saveChunk(c); err != nil {
			return err
		}
	}
	return nil
}

func (t *writeTx) saveChunk(c *chunk) error {
	c.dirty = false
	if len(c.entries) == 0 {
		if c.rowid != 0 {
			if _, err := t.q.ExecContext(t.ctx, `DELETE FROM message_chunks WHERE id = ?`, c.rowid); err != nil {
				return fmt.Errorf("delete chunk: %w", err)
			}
		}
		return nil
	}
	var ms store.ModSeq
	for _, e := range c.entries {
		ms = max(ms, e.modseq)
	}
	t.buf = encodeChunk(t.buf, c.entries, ms)
	first, last := c.entries[0].uid, c.entries[len(c.entries)-1].uid
	if c.rowid == 0 {
		err := t.q.QueryRowContext(t.ctx, `INSERT INTO message_chunks (mailbox_id, first_uid, last_uid, count, max_modseq, data)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, c.mailbox, first, last, len(c.entries), ms, t.buf).Scan(&c.rowid)
		if err != nil {
			return fmt.Errorf("insert chunk: %w", err)
		}
		return nil
	}
	_, err := t.q.ExecContext(t.ctx, `UPDATE message_chunks SET mailbox_id = ?, first_uid = ?, last_uid = ?, count = ?, max_modseq = ?, data = ?
		WHERE id = ?`, c.mailbox, first, last, len(c.entries), ms, t.buf, c.rowid)
	if err != nil {
		return fmt.Errorf("update chunk: %w", err)
	}
	return nil
}

// mergeChunks joins neighbouring chunks of cs (ascending, as loadChunks
// returns them) that fit in one after an expunge shrank them, so a
// mailbox that lost most of its messages does not keep a row per handful
// of messages. Two chunks are joined only when no other chunk lies between
// them.
func (t *writeTx) mergeChunks(id store.MailboxID, cs []*chunk) error {
	var prev *chunk
	dropped := 0 // rows after prev's that this transaction deletes
	for _, c := range cs {
		if c.rowid == 0 {
			continue
		}
		if len(c.entries) == 0 {
			dropped++
			continue
		}
		if prev != nil && len(prev.entries)+len(c.entries) <= chunkMax {
			var between int
			err := t.q.QueryRowContext(t.ctx, `SELECT count(*) FROM message_chunks
				WHERE mailbox_id = ? AND first_uid > ? AND first_uid < ?`, id, prev.loadedFirst, c.loadedFirst).Scan(&between)
			if err != nil {
				return fmt.Errorf("merge chunks: %w", err)
			}
			if between == dropped {
				// prev keeps its row and first_uid; c's row is deleted.
				prev.entries = append(prev.entries, c.entries...)
				c.entries = nil
				prev.dirty, c.dirty = true, true
				dropped++
				continue
			}
		}
		prev, dropped = c, 0
	}
	return nil
}

// appendEntries adds entries, whose UIDs are above every UID of mailbox
// id, at the end of its chunks: the last chunk is filled up to chunkMax,
// then new chunks are started.
func (t *writeTx) appendEntries(id store.MailboxID, es []entry) error {
	if len(es) == 0 {
		return nil
	}
	c := &chunk{mailbox: id}
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+chunkColumns+` FROM message_chunks WHERE mailbox_id = ? ORDER BY first_uid DESC LIMIT 1`, id)
	if err != nil {
		return fmt.Errorf("append to chunk: %w", err)
	}
	if rows.Next() {
		if c, err = scanChunk(rows, id); err != nil {
			rows.Close()
			return fmt.Errorf("append to chunk: %w", err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("append to chunk: %w", err)
	}
	for len(es) > 0 {
		if len(c.entries) >= chunkMax {
			if err := t.saveChunk(c); err != nil {
				return err
			}
			c = &chunk{mailbox: id}
		}
		n := min(chunkMax-len(c.entries), len(es))
		c.entries = append(c.entries, es[:n]...)
		c.dirty = true
		es = es[n:]
	}
	return t.saveChunk(c)
}
