package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tidemark-mail/tidemark/internal/blob"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// preparedMessage is a message whose bytes are in the blob store, parsed,
// ready for the metadata transaction.
type preparedMessage struct {
	blobID       string
	size         int64
	flags        store.SystemFlags
	keywords     string
	internalDate time.Time
	structure    []byte
	thread       message.ThreadRefs
	inline       []byte             // the body, when stored in the bodies table
	packed       []byte             // inline as stored (packBody); nil: not packed yet
	text         *message.IndexText // for the text index (textindex.go); nil: unreadable
	sortKeys     []byte             // the summary (summary.go)
	preview      *string            // nil: not computed

	// Set by a Replica only: the UID to use (0: the next), and the
	// SAVEDATE and object ids to keep (zero: now, new), and the local
	// modseq the message gets (0: the transaction's).
	uid               store.UID
	saveDate          time.Time
	emailID, threadID string
	modseq            store.ModSeq
}

// allSystemFlags masks the defined store.SystemFlags bits.
const allSystemFlags = store.FlagSeen | store.FlagAnswered | store.FlagFlagged | store.FlagDeleted | store.FlagDraft

// normalizeFlags checks keywords and returns the flags in stored form.
func normalizeFlags(f store.Flags) (store.SystemFlags, string, error) {
	for _, k := range f.Keywords {
		if !store.ValidKeyword(k) {
			return 0, "", fmt.Errorf("keyword %q: %w", k, store.ErrInvalidKeyword)
		}
	}
	return f.System & allSystemFlags, strings.Join(store.NormalizeKeywords(f.Keywords), " "), nil
}

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// Append adds messages in one transaction. Each message is read and
// parsed before the transaction begins; a body up to the inline threshold
// is written in the transaction itself, a larger one to the blob store,
// fsynced with the rest of the batch before the transaction. A message
// over the size limit fails the whole call with store.ErrTooBig.
func (a *Account) Append(ctx context.Context, id store.MailboxID, msgs []store.NewMessage) (store.AppendResult, error) {
	var res store.AppendResult
	target, err := lookupID(ctx, a.u.reads(), id)
	if err != nil {
		return res, err
	}
	prepared := make([]preparedMessage, len(msgs))
	bodies := make([]io.Reader, len(msgs))
	for i, m := range msgs {
		sys, kw, err := normalizeFlags(m.Flags)
		if err != nil {
			return res, err
		}
		prepared[i] = preparedMessage{flags: sys, keywords: kw, internalDate: m.InternalDate}
		bodies[i] = m.Body
	}
	// Blobs written from here on are not referenced until the commit:
	// keep blob collection away until then.
	a.u.gcMu.RLock()
	defer a.u.gcMu.RUnlock()
	// Failures name the mailbox, for the logs of whoever reports them.
	if err := a.u.prepareBodies(prepared, bodies); err != nil {
		return res, fmt.Errorf("mailbox %q: %w", target.Name, err)
	}
	err = a.u.write(ctx, func(t *writeTx) error {
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		res.UIDValidity = mb.UIDValidity
		res.UIDs, res.ModSeq, err = t.insertMessages(mb, prepared)
		return err
	})
	if err != nil {
		return store.AppendResult{}, fmt.Errorf("mailbox %q: %w", target.Name, err)
	}
	return res, nil
}

// prepareBodies reads, hashes and parses the bodies of a batch (nil
// bodies are skipped: their content is already stored), writing the large
// ones to blob files and making those durable, before any transaction.
// Bodies are read one after the other; the hashing, parsing and
// compression of the inline ones run on up to GOMAXPROCS goroutines
// meanwhile, so a batch's CPU work is spread over the cores and overlaps
// the reading of the next body. The caller holds gcMu shared until its
// transaction ends.
func (u *userDB) prepareBodies(prepared []preparedMessage, bodies []io.Reader) error {
	var pending []*blob.Pending
	budget := int64(inlineBatchBudget)
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, body := range bodies {
		if body == nil {
			continue
		}
		data, p, err := u.prepareBody(&prepared[i], bodyReader{r: body, budget: &budget})
		if err != nil {
			g.Wait()
			u.blobs.Abort(pending)
			return storageErr(fmt.Errorf("append message %d: %w", i+1, err))
		}
		if p != nil {
			pending = append(pending, p)
			continue
		}
		g.Go(func() (err error) {
			// A message that panics the parser fails its append, as it
			// would on the session's own goroutine, not the process.
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("append message %d: parse panicked: %v", i+1, p)
				}
			}()
			if err := prepared[i].finishInline(data, !u.noText); err != nil {
				return fmt.Errorf("append message %d: %w", i+1, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		u.blobs.Abort(pending)
		return storageErr(err)
	}
	// One durability step for the batch's files, before the transaction
	// that references them; inline bodies are durable with the commit.
	if len(pending) > 0 {
		if err := u.blobs.Commit(pending); err != nil {
			return storageErr(fmt.Errorf("append: %w", err))
		}
	}
	return nil
}

// insertMessages adds prepared messages to mailbox mb at one modseq: at
// their own UIDs when set (ascending, at or above UIDNEXT; checked), else
// at the next ones. It raises UIDNEXT and the counters and returns the
// UIDs given and the modseq (0 when prepared is empty).
func (t *writeTx) insertMessages(mb mailboxRow, prepared []preparedMessage) ([]store.UID, store.ModSeq, error) {
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
	insContent, err := t.q.PrepareContext(t.ctx, `INSERT INTO contents
		(blob_id, size, internaldate, internaldate_zone, email_id, thread_id, structure, sort_keys, preview)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return nil, 0, err
	}
	defer insContent.Close()
	insMessage, err := t.q.PrepareContext(t.ctx, `INSERT INTO messages
		(mailbox_id, uid, savedate, size, content_id) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, 0, err
	}
	defer insMessage.Close()
	var insBody *sql.Stmt
	for _, p := range prepared {
		if p.inline == nil {
			continue
		}
		// Identical bytes already stored keep their row: content
		// addressing dedupes inline bodies as it does files.
		insBody, err = t.q.PrepareContext(t.ctx, `INSERT INTO bodies (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return nil, 0, err
		}
		defer insBody.Close()
		break
	}

	now := t.u.now()
	var d counterDelta
	entries := make([]entry, 0, len(prepared))
	contentIDs := make([]int64, 0, len(prepared))
	for i, p := range prepared {
		kw, err := t.kwSetFor(p.keywords)
		if err != nil {
			return nil, 0, err
		}
		thread := p.threadID
		if thread == "" {
			if thread, err = t.threadID(p.thread); err != nil {
				return nil, 0, err
			}
		} else if err := t.recordThread(p.thread.IDs(), thread); err != nil {
			// A kept THREADID still gathers the replies that come later.
			return nil, 0, err
		}
		emailID := p.emailID
		if emailID == "" {
			emailID = store.NewObjectID('M')
		}
		date := p.internalDate
		if date.IsZero() {
			date = now
		}
		saved := p.saveDate
		if saved.IsZero() {
			saved = now
		}
		_, offset := date.Zone()
		var contentID int64
		if err := insContent.QueryRowContext(t.ctx, p.blobID, p.size, date.Unix(), offset,
			emailID, thread, p.structure, p.sortKeys, p.preview).Scan(&contentID); err != nil {
			return nil, 0, fmt.Errorf("append: %w", err)
		}
		if _, err := insMessage.ExecContext(t.ctx, id, uids[i], saved.Unix(), p.size, contentID); err != nil {
			return nil, 0, fmt.Errorf("append: %w", err)
		}
		contentIDs = append(contentIDs, contentID)
		if p.inline != nil {
			packed := p.packed
			if packed == nil {
				packed = packBody(p.inline)
			}
			if _, err := insBody.ExecContext(t.ctx, p.blobID, packed); err != nil {
				return nil, 0, fmt.Errorf("append: store body: %w", err)
			}
		}
		t.named = append(t.named, p.blobID) // see reclaim.go
		e := entry{uid: uids[i], flags: p.flags, kw: kw, modseq: ms}
		if p.modseq != 0 {
			e.modseq = p.modseq
		}
		entries = append(entries, e)
		d.add(p.flags, p.size, 1)
	}
	if err := t.appendEntries(id, entries); err != nil {
		return nil, 0, err
	}
	if _, err := t.q.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, next, id); err != nil {
		return nil, 0, err
	}
	if err := t.applyCounters(id, d); err != nil {
		return nil, 0, err
	}
	// Last, so that the index rows go in together (textindex.go).
	texts := make([]*message.IndexText, len(prepared))
	for i := range prepared {
		texts[i] = prepared[i].text
	}
	return uids, ms, t.indexAppended(contentIDs, texts)
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
	_, err := t.q.ExecContext(t.ctx, `UPDATE mailboxes SET messages = messages + ?, unseen = unseen + ?,
		deleted = deleted + ?, size = size + ? WHERE id = ?`, d.messages, d.unseen, d.deleted, d.size, id)
	if err != nil {
		return fmt.Errorf("update counters: %w", err)
	}
	return nil
}
