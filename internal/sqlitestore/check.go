package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Problem is one inconsistency Check found.
type Problem = store.Problem

// Check verifies a user's store and returns what is wrong: every
// message's contents and body (inline or blob file) exist and the body
// hashes to its id with the recorded size; STATUS counters match the messages; every modseq is at
// most its mailbox's HIGHESTMODSEQ and below the durable floor; every UID
// and tombstone is below UIDNEXT; tombstones neither overlap each other
// nor any live message; no contents row is unreferenced; nothing above the
// text index's backlog mark is indexed. It reads every
// blob, so it takes time proportional to the store.
func (s *Store) Check(ctx context.Context, user string) ([]Problem, error) {
	u, err := s.acquire(ctx, user)
	if err != nil {
		return nil, err
	}
	defer s.release(u)
	reader := u.rc.readers.enter()
	defer u.rc.readers.exit(reader)
	u.writeMu.Lock()
	floor, manFloor := u.dbFloor, u.man.ModSeqFloor
	u.writeMu.Unlock()
	var ps []Problem
	err = u.readTx(ctx, func(tx *sql.Tx) error {
		c := checker{ctx: ctx, tx: tx, u: u, floor: floor, manFloor: manFloor}
		if err := c.run(); err != nil {
			return err
		}
		ps = c.problems
		return nil
	})
	return ps, err
}

type checker struct {
	ctx             context.Context
	tx              *sql.Tx
	u               *userDB
	floor, manFloor uint64
	names           map[store.MailboxID]string
	problems        []Problem
}

func (c *checker) add(mb store.MailboxID, uid store.UID, format string, args ...any) {
	c.problems = append(c.problems, Problem{Mailbox: c.names[mb], UID: uid, What: fmt.Sprintf(format, args...)})
}

// each runs q and calls fn with each row's scanner.
func (c *checker) each(q string, fn func(scanner) error, args ...any) error {
	rows, err := c.tx.QueryContext(c.ctx, q, args...)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("check: %w", err)
		}
	}
	return rows.Err()
}

func (c *checker) run() error {
	if c.floor > c.manFloor {
		c.add(0, 0, "database modseq floor %d above the manifest's %d", c.floor, c.manFloor)
	}
	c.names = make(map[store.MailboxID]string)
	inbox := false
	err := c.each(`SELECT `+mailboxColumns+` FROM mailboxes`, func(r scanner) error {
		m, err := scanMailbox(r)
		if err != nil {
			return err
		}
		c.names[m.ID] = m.Name
		if cn, err := canonicalMailboxName(m.Name); err != nil || cn != m.Name {
			c.add(m.ID, 0, "invalid name")
		}
		inbox = inbox || m.Name == "INBOX"
		if uint64(m.HighestModSeq) >= c.floor {
			c.add(m.ID, 0, "HIGHESTMODSEQ %d not below the durable floor %d", m.HighestModSeq, c.floor)
		}
		if m.prunedBelow > m.HighestModSeq {
			c.add(m.ID, 0, "pruned below %d, above HIGHESTMODSEQ %d", m.prunedBelow, m.HighestModSeq)
		}
		if m.UIDNext == 0 || m.UIDValidity == 0 {
			c.add(m.ID, 0, "UIDNEXT %d UIDVALIDITY %d", m.UIDNext, m.UIDValidity)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !inbox {
		c.add(0, 0, "no INBOX")
	}
	// The \Recent floor lies in [1, UIDNEXT]: a claim never runs ahead of
	// the UIDs given out.
	err = c.each(`SELECT id, recent_uid, uidnext FROM mailboxes WHERE recent_uid < 1 OR recent_uid > uidnext`, func(r scanner) error {
		var id store.MailboxID
		var floor, next int64
		if err := r.Scan(&id, &floor, &next); err != nil {
			return err
		}
		c.add(id, 0, "recent floor %d outside [1, UIDNEXT %d]", floor, next)
		return nil
	})
	if err != nil {
		return err
	}
	mbs := make(map[store.MailboxID]mailboxRow)
	err = c.each(`SELECT `+mailboxColumns+` FROM mailboxes`, func(r scanner) error {
		m, err := scanMailbox(r)
		mbs[m.ID] = m
		return err
	})
	if err != nil {
		return err
	}
	counted, err := c.checkChunks(mbs)
	if err != nil {
		return err
	}
	// Counters against the messages they count.
	for id, m := range mbs {
		have := [4]int64{int64(m.Messages), int64(m.Unseen), int64(m.Deleted), m.Size}
		want := counted[id]
		if have != want {
			c.add(id, 0, "counters messages/unseen/deleted/size are %v, messages say %v", have, want)
		}
	}
	if err := c.checkTombstones(); err != nil {
		return err
	}
	if err := c.checkTextBacklog(); err != nil {
		return err
	}
	return c.checkContents()
}

// checkTextBacklog verifies that nothing above the background indexer's
// mark is indexed (textbehind.go): SEARCH scans those contents, and the
// indexer would index them a second time.
func (c *checker) checkTextBacklog() error {
	after, pending, err := textPending(c.ctx, c.tx)
	if err != nil || !pending {
		return err
	}
	for _, table := range textIndexTables {
		var n int64
		if err := c.tx.QueryRowContext(c.ctx, `SELECT count(*) FROM `+table+` WHERE rowid > ?`, after).Scan(&n); err != nil {
			return fmt.Errorf("check: %w", err)
		}
		if n > 0 {
			c.add(0, 0, "%d %s rows above the text index backlog mark %d (tidemark reindex rebuilds it)", n, table, after)
		}
	}
	return nil
}

// checkChunks verifies every chunk (decodable, ordered, its columns
// matching its entries, no overlap with its neighbours, entries within
// their mailbox's UIDNEXT and HIGHESTMODSEQ, known flags and keyword
// sets) and that the chunk entries and the messages rows name the same
// messages, with matching contents. It returns per mailbox what the
// counters should say: messages, unseen, deleted, size.
func (c *checker) checkChunks(mbs map[store.MailboxID]mailboxRow) (map[store.MailboxID][4]int64, error) {
	counted := make(map[store.MailboxID][4]int64)
	type key struct {
		mb  store.MailboxID
		uid store.UID
	}
	inChunks := make(map[key]store.SystemFlags)
	var prev struct {
		mb   store.MailboxID
		last store.UID
	}
	kwOK := map[kwSetID]bool{0: true}
	err := c.each(`SELECT id, mailbox_id, first_uid, last_uid, count, max_modseq, data FROM message_chunks ORDER BY mailbox_id, first_uid`, func(r scanner) error {
		var rowid int64
		var mb store.MailboxID
		var first, last store.UID
		var count int
		var ms store.ModSeq
		var data []byte
		if err := r.Scan(&rowid, &mb, &first, &last, &count, &ms, &data); err != nil {
			return err
		}
		m, ok := mbs[mb]
		if !ok {
			c.add(mb, first, "chunk of missing mailbox %d", mb)
			return nil
		}
		es, err := decodeEntries(data, ms, nil)
		if err != nil {
			c.add(mb, first, "chunk %d: %v", rowid, err)
			return nil
		}
		if len(es) == 0 || len(es) != count {
			c.add(mb, first, "chunk %d holds %d entries, count says %d", rowid, len(es), count)
			return nil
		}
		var maxMS store.ModSeq
		for _, e := range es {
			maxMS = max(maxMS, e.modseq)
		}
		if es[0].uid != first || es[len(es)-1].uid != last || maxMS != ms {
			c.add(mb, first, "chunk %d columns first %d last %d max modseq %d, entries say %d %d %d",
				rowid, first, last, ms, es[0].uid, es[len(es)-1].uid, maxMS)
		}
		if prev.mb == mb && first <= prev.last {
			c.add(mb, first, "chunks overlap")
		}
		prev.mb, prev.last = mb, last
		n := counted[mb]
		for _, e := range es {
			if e.uid >= m.UIDNext {
				c.add(mb, e.uid, "UID not below UIDNEXT %d", m.UIDNext)
			}
			if e.modseq > m.HighestModSeq {
				c.add(mb, e.uid, "modseq %d above HIGHESTMODSEQ %d", e.modseq, m.HighestModSeq)
			}
			if e.flags&^allSystemFlags != 0 {
				c.add(mb, e.uid, "unknown flag bits %#x", e.flags)
			}
			if _, seen := kwOK[e.kw]; !seen {
				var s string
				err := c.tx.QueryRowContext(c.ctx, `SELECT keywords FROM keyword_sets WHERE id = ?`, e.kw).Scan(&s)
				kwOK[e.kw] = err == nil && s != "" && slices.Equal(store.NormalizeKeywords(splitKeywords(s)), splitKeywords(s)) &&
					!slices.ContainsFunc(splitKeywords(s), func(k string) bool { return !store.ValidKeyword(k) })
			}
			if !kwOK[e.kw] {
				c.add(mb, e.uid, "keyword set %d missing or invalid", e.kw)
			}
			inChunks[key{mb, e.uid}] = e.flags
			n[0]++
			if e.flags&store.FlagSeen == 0 {
				n[1]++
			}
			if e.flags&store.FlagDeleted != 0 {
				n[2]++
			}
		}
		counted[mb] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = c.each(`SELECT m.mailbox_id, m.uid, m.size, c.id IS NULL, coalesce(c.size, -1)
		FROM messages m LEFT JOIN contents c ON c.id = m.content_id`, func(r scanner) error {
		var mb store.MailboxID
		var uid store.UID
		var size, csize int64
		var noContents bool
		if err := r.Scan(&mb, &uid, &size, &noContents, &csize); err != nil {
			return err
		}
		if _, ok := mbs[mb]; !ok {
			c.add(mb, uid, "message in missing mailbox %d", mb)
			return nil
		}
		if uid == 0 {
			c.add(mb, uid, "UID 0")
		}
		k := key{mb, uid}
		if _, ok := inChunks[k]; !ok {
			c.add(mb, uid, "message row without chunk entry")
		}
		delete(inChunks, k)
		n := counted[mb]
		n[3] += size
		counted[mb] = n
		if noContents {
			c.add(mb, uid, "contents row missing")
		} else if csize != size {
			c.add(mb, uid, "size %d, contents say %d", size, csize)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k := range inChunks {
		c.add(k.mb, k.uid, "chunk entry without message row")
	}
	return counted, nil
}

func (c *checker) checkTombstones() error {
	var prev struct {
		mb   store.MailboxID
		stop store.UID
	}
	err := c.each(`SELECT t.mailbox_id, t.uid_start, t.uid_stop, t.modseq, b.uidnext, b.highestmodseq, b.id IS NULL
		FROM tombstones t LEFT JOIN mailboxes b ON b.id = t.mailbox_id ORDER BY t.mailbox_id, t.uid_start`, func(r scanner) error {
		var mb store.MailboxID
		var start, stop, uidNext store.UID
		var ms, hms store.ModSeq
		var noMailbox bool
		if err := r.Scan(&mb, &start, &stop, &ms, &uidNext, &hms, &noMailbox); err != nil {
			return err
		}
		if noMailbox {
			c.add(mb, start, "tombstone of missing mailbox %d", mb)
			return nil
		}
		if start == 0 || start > stop || stop >= uidNext {
			c.add(mb, start, "tombstone %d:%d outside 1..UIDNEXT-1 (%d)", start, stop, uidNext)
		}
		if ms == 0 || ms > hms {
			c.add(mb, start, "tombstone modseq %d above HIGHESTMODSEQ %d", ms, hms)
		}
		if prev.mb == mb && start <= prev.stop {
			c.add(mb, start, "tombstones overlap")
		}
		prev.mb, prev.stop = mb, stop
		return nil
	})
	if err != nil {
		return err
	}
	return c.each(`SELECT t.mailbox_id, m.uid FROM tombstones t JOIN messages m
		ON m.mailbox_id = t.mailbox_id AND m.uid BETWEEN t.uid_start AND t.uid_stop`, func(r scanner) error {
		var mb store.MailboxID
		var uid store.UID
		if err := r.Scan(&mb, &uid); err != nil {
			return err
		}
		c.add(mb, uid, "live message inside a tombstone")
		return nil
	})
}

// checkContents verifies each contents row is referenced and each body
// (once), inline or in a blob file, exists and hashes to its id with the
// recorded size. Bodies no contents row names are not problems: they
// await reclamation (reclaim.go).
func (c *checker) checkContents() error {
	verified := make(map[string]int64)
	return c.each(`SELECT c.id, c.blob_id, c.size, EXISTS (SELECT 1 FROM messages m WHERE m.content_id = c.id) FROM contents c`, func(r scanner) error {
		var id, size int64
		var blobID string
		var used bool
		if err := r.Scan(&id, &blobID, &size, &used); err != nil {
			return err
		}
		if !used {
			c.add(0, 0, "contents %d unreferenced", id)
		}
		got, seen := verified[blobID]
		if !seen {
			if beforeVerify != nil {
				beforeVerify(blobID)
			}
			n, err := c.u.verifyBody(c.ctx, c.tx, blobID)
			if errors.Is(err, fs.ErrNotExist) && !c.stillNamed(blobID) {
				// Expunged after this check's snapshot and reclaimed by a
				// server running beside it: not a problem.
				return nil
			}
			if err != nil {
				c.add(0, 0, "contents %d: %v", id, err)
				n = -1
			}
			verified[blobID] = n
			got = n
		}
		if got >= 0 && got != size {
			c.add(0, 0, "contents %d: blob is %d bytes, recorded %d", id, got, size)
		}
		return nil
	})
}

// stillNamed reports whether a contents row names body id now, outside
// the check's snapshot (true when it cannot tell).
func (c *checker) stillNamed(id string) bool {
	var named bool
	err := c.u.r.QueryRowContext(c.ctx, `SELECT EXISTS (SELECT 1 FROM contents WHERE blob_id = ?)`, id).Scan(&named)
	return err != nil || named
}

// beforeVerify, when set (tests), runs before Check reads each body.
var beforeVerify func(id string)

var _ store.Checker = (*Store)(nil)
var _ store.Repairer = (*Store)(nil)
