package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/blob"
	"github.com/tidemark-mail/tidemark/internal/bodypack"
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
	packed       []byte             // inline as stored (bodypack.Pack); nil: not packed yet
	text         *message.IndexText // for the text index (textindex.go); nil: unreadable
	sortKeys     []byte             // the summary (summary.go)
	preview      *string            // nil: not computed
	// textLater: text was not computed, the background indexer writing
	// the message's index rows (textbehind.go).
	textLater bool

	// Set by a Replica only: the UID to use (0: the next), and the
	// SAVEDATE and object ids to keep (zero: now, new), and the local
	// modseq the message gets (0: the transaction's).
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
	if len(msgs) == 0 {
		return store.AppendResult{}, nil
	}
	i := 0
	return a.AppendStream(ctx, id, func() (store.NewMessage, bool, error) {
		i++
		return msgs[i-1], i < len(msgs), nil
	})
}

// AppendStream is Append with the messages taken from next as its caller
// receives them (store.StreamAppender): each body is hashed, parsed and
// compressed while the next one is read (prepareFrom), and all are
// appended in one transaction. An error from next is returned as it is.
func (a *Account) AppendStream(ctx context.Context, id store.MailboxID, next store.MessageSource) (store.AppendResult, error) {
	var res store.AppendResult
	a.u.appendStarted()
	defer a.u.appendDone()
	target, err := lookupID(ctx, a.u.reads(), id)
	if err != nil {
		return res, err
	}
	var prepared []*preparedMessage
	var srcErr error // next's, or a refused keyword: returned unwrapped
	src := func() (*preparedMessage, io.Reader, bool, error) {
		m, more, err := next()
		if err != nil {
			srcErr = err
			return nil, nil, false, err
		}
		sys, kw, err := normalizeFlags(m.Flags)
		if err != nil {
			srcErr = err
			return nil, nil, false, err
		}
		p := &preparedMessage{flags: sys, keywords: kw, internalDate: m.InternalDate}
		prepared = append(prepared, p)
		return p, m.Body, more, nil
	}
	// Blobs written from their first on are not referenced until the
	// commit: blob collection is kept away from then until the commit.
	gc := &gcHold{mu: &a.u.gcMu}
	defer gc.release()
	prep, err := a.u.prepareFrom(src, gc)
	if err != nil {
		if srcErr != nil {
			return res, srcErr
		}
		// Failures name the mailbox, for the logs of whoever reports them.
		return res, fmt.Errorf("mailbox %q: %w", target.Name, err)
	}
	// Every body is read: the transaction starts now and inserts the
	// messages a step at a time as the prepare workers finish them, so
	// that SQLite's work overlaps the parsing and compression of the
	// rest of the batch rather than following it.
	defer prep.wait(len(prepared)) // on failure, nothing may still write to prepared
	gc.hold()
	batch := make([]preparedMessage, len(prepared))
	err = a.u.write(ctx, func(t *writeTx) error {
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		res.UIDValidity = mb.UIDValidity
		ins := t.newInserter(mb, len(batch))
		for start := 0; start < len(batch); start += appendStep {
			end := min(start+appendStep, len(batch))
			if err := prep.wait(end); err != nil {
				return err
			}
			for i := start; i < end; i++ {
				batch[i] = *prepared[i]
			}
			if err := ins.add(batch[start:end]); err != nil {
				return err
			}
		}
		res.UIDs, res.ModSeq, err = ins.finish()
		return err
	})
	if err != nil {
		return store.AppendResult{}, fmt.Errorf("mailbox %q: %w", target.Name, err)
	}
	return res, nil
}

// appendStep is how many messages of a batch an append inserts at a time
// (AppendStream): small enough that the transaction starts soon after the
// last body is read, large enough that its statements stay few. Its
// multi-row statements are prepared once (rowsQ).
const appendStep = 25

var _ store.StreamAppender = (*Account)(nil)

// gcHold takes gcMu shared once, before an append writes its first blob
// file (which nothing references until the commit), and keeps it until
// release, after the transaction. Taking it no earlier keeps a client
// slowly sending a MULTIAPPEND of small messages from holding off blob
// collection, and the appends that would queue behind it. A nil gcHold
// stands for a caller that holds gcMu itself.
type gcHold struct {
	mu   *sync.RWMutex
	held bool
}

func (h *gcHold) hold() {
	if h != nil && !h.held {
		h.mu.RLock()
		h.held = true
	}
}

func (h *gcHold) release() {
	if h != nil && h.held {
		h.mu.RUnlock()
		h.held = false
	}
}

// bodySource hands prepareFrom a batch's messages in order: the message
// to fill in, its body (nil: its content is already stored) and whether
// more follow.
type bodySource func() (p *preparedMessage, body io.Reader, more bool, err error)

// prepareBodies prepares prepared[i] from bodies[i] (prepareFrom) and
// waits until all are ready; the caller holds gcMu shared until its
// transaction ends.
func (u *userDB) prepareBodies(prepared []preparedMessage, bodies []io.Reader) error {
	if len(prepared) == 0 {
		return nil
	}
	i := 0
	prep, err := u.prepareFrom(func() (*preparedMessage, io.Reader, bool, error) {
		i++
		return &prepared[i-1], bodies[i-1], i < len(prepared), nil
	}, nil)
	if err != nil {
		return err
	}
	return prep.wait(len(prepared))
}

// preparing is a batch whose bodies are all read (prepareFrom), the inline
// ones still being hashed, parsed and compressed by the prepare workers.
type preparing struct {
	jobs []*prepareJob // message i's; nil: ready when read
}

// prepareJob is one message handed to a prepare worker.
type prepareJob struct {
	done chan struct{} // closed when the message is ready
	err  error         // set before done is closed
}

// wait waits until the first n messages are ready and returns the first
// failure among them.
func (p *preparing) wait(n int) error {
	var first error
	for _, j := range p.jobs[:n] {
		if j == nil {
			continue
		}
		<-j.done
		if first == nil && j.err != nil {
			first = storageErr(j.err)
		}
	}
	return first
}

// prepareFrom reads the bodies of a batch one after the other, writing the
// large ones to blob files and making those durable, and hands each inline
// one to the prepare workers (prepareWork) to hash, parse and compress: a
// batch's CPU work is spread over the cores and overlaps the reading of
// the next body (with AppendStream, its receiving) and, once every body is
// read, the caller's transaction. It returns when every body is read;
// preparing.wait tells when the messages are ready. gc is held before the
// first blob file is written. On an error it waits for the workers itself.
func (u *userDB) prepareFrom(src bodySource, gc *gcHold) (*preparing, error) {
	var pending []*blob.Pending
	budget := int64(inlineBatchBudget)
	prep := &preparing{}
	fail := func(err error) (*preparing, error) {
		prep.wait(len(prep.jobs))
		u.blobs.Abort(pending)
		return nil, err
	}
	for i, more := 0, true; more; i++ {
		p, body, m, err := src()
		if err != nil {
			return fail(err)
		}
		more = m
		prep.jobs = append(prep.jobs, nil)
		if body == nil {
			continue
		}
		// Index rows are written behind the append, from the stored
		// bytes: computing their text here would be wasted.
		p.textLater = u.textBehind
		data, pend, err := u.prepareBody(p, bodyReader{r: body, budget: &budget, gc: gc})
		if err != nil {
			return fail(storageErr(fmt.Errorf("append message %d: %w", i+1, err)))
		}
		if pend != nil {
			pending = append(pending, pend)
			continue
		}
		finish := func() (err error) {
			// A message that panics the parser fails its append, as it
			// would on the session's own goroutine, not the process.
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("append message %d: parse panicked: %v", i+1, r)
				}
			}()
			if err := p.finishInline(data, !u.noText && !p.textLater); err != nil {
				return fmt.Errorf("append message %d: %w", i+1, err)
			}
			return nil
		}
		if i == 0 && !more {
			// The only message (of a single APPEND or delivery) is
			// finished here rather than handed to a worker to wait for.
			if err := finish(); err != nil {
				return fail(storageErr(err))
			}
			continue
		}
		job := &prepareJob{done: make(chan struct{})}
		prep.jobs[i] = job
		prepareWork(func() {
			job.err = finish()
			close(job.done)
		})
	}
	// One durability step for the batch's files, before the transaction
	// that references them; inline bodies are durable with the commit.
	if len(pending) > 0 {
		if err := u.blobs.Commit(pending); err != nil {
			return fail(storageErr(fmt.Errorf("append: %w", err)))
		}
	}
	return prep, nil
}

// prepareJobs feeds the prepare workers: one per core for the process,
// started on first use, shared by every append. A fixed set of goroutines
// rather than one per message: each new goroutine would grow its stack
// again in the parser. Nothing a job does waits for anything but the CPU,
// so a job queued behind another batch's is only delayed.
var (
	prepareJobs     chan func()
	prepareJobsOnce sync.Once
)

// prepareWork runs job on a prepare worker.
func prepareWork(job func()) {
	prepareJobsOnce.Do(func() {
		prepareJobs = make(chan func(), 4096)
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for job := range prepareJobs {
					job()
				}
			}()
		}
	})
	prepareJobs <- job
}

// insertMessages adds prepared messages to mailbox mb at one modseq: at
// their own UIDs when set (ascending, at or above UIDNEXT; checked), else
// at the next ones. It raises UIDNEXT and the counters and returns the
// UIDs given and the modseq (0 when prepared is empty).
func (t *writeTx) insertMessages(mb mailboxRow, prepared []preparedMessage) ([]store.UID, store.ModSeq, error) {
	ins := t.newInserter(mb, len(prepared))
	if err := ins.add(prepared); err != nil {
		return nil, 0, err
	}
	return ins.finish()
}

// inserter is insertMessages in steps: add inserts the rows of some
// messages, each add continuing from the last, and finish writes what
// concerns the batch as a whole (the change log, UIDNEXT, counters and the
// text index, each in one go).
type inserter struct {
	t          *writeTx
	mb         mailboxRow
	next       uint64 // the UID of the next message
	now        time.Time
	ms         store.ModSeq // 0: not allocated yet
	uids       []store.UID
	entries    []entry
	contentIDs []int64
	texts      []*message.IndexText
	deferred   bool
	d          counterDelta
}

// newInserter starts an insertion of about n messages into mb.
func (t *writeTx) newInserter(mb mailboxRow, n int) *inserter {
	return &inserter{t: t, mb: mb, next: uint64(mb.UIDNext), now: t.u.now(),
		uids: make([]store.UID, 0, n), entries: make([]entry, 0, n), contentIDs: make([]int64, 0, n), texts: make([]*message.IndexText, 0, n)}
}

// add inserts the rows of the next messages of the batch.
func (ins *inserter) add(prepared []preparedMessage) error {
	if len(prepared) == 0 {
		return nil
	}
	t, mb, id := ins.t, ins.mb, ins.mb.ID
	uids := make([]store.UID, len(prepared))
	for i, p := range prepared {
		if p.uid != 0 {
			if uint64(p.uid) < ins.next {
				return fmt.Errorf("append at UID %d: below UIDNEXT or out of order in mailbox %q: %w", p.uid, mb.Name, store.ErrInvalidUID)
			}
			ins.next = uint64(p.uid)
		}
		// The last UID is MaxUID-1, so that UIDNEXT stays a valid
		// nz-number (RFC 9051 2.3.1.1).
		if ins.next >= uint64(store.MaxUID) {
			return fmt.Errorf("append: UIDs exhausted in mailbox %q: %w", mb.Name, store.ErrCannot)
		}
		uids[i] = store.UID(ins.next)
		ins.next++
	}
	for _, p := range prepared {
		if p.modseq == 0 && ins.ms == 0 {
			var err error
			if ins.ms, err = t.modseq(id); err != nil {
				return err
			}
			break
		}
	}
	threads, err := t.threadIDs(prepared)
	if err != nil {
		return err
	}
	now := ins.now
	contentArgs := make([]any, 0, 9*len(prepared))
	var bodyArgs []any
	for i, p := range prepared {
		kw, err := t.kwSetFor(p.keywords)
		if err != nil {
			return err
		}
		emailID := p.emailID
		if emailID == "" {
			emailID = store.NewObjectID('M')
		}
		date := p.internalDate
		if date.IsZero() {
			date = now
		}
		_, offset := date.Zone()
		contentArgs = append(contentArgs, p.blobID, p.size, date.Unix(), offset,
			emailID, threads[i], p.structure, p.sortKeys, p.preview)
		if p.inline != nil {
			// Identical bytes already stored keep their row: content
			// addressing dedupes inline bodies as it does files.
			packed := p.packed
			if packed == nil {
				packed = bodypack.Pack(p.inline)
			}
			bodyArgs = append(bodyArgs, p.blobID, packed)
		}
		t.named = append(t.named, p.blobID) // see reclaim.go
		e := entry{uid: uids[i], flags: p.flags, kw: kw, modseq: ins.ms}
		if p.modseq != 0 {
			e.modseq = p.modseq
		}
		ins.entries = append(ins.entries, e)
		ins.d.add(p.flags, p.size, 1)
		ins.texts = append(ins.texts, p.text)
		ins.deferred = ins.deferred || p.textLater
	}
	// The rows go in by multi-row INSERTs of up to batchRows: a MULTIAPPEND
	// or an import batch costs a few statements, not a few per message.
	contentIDs := make([]int64, 0, len(prepared))
	for start := 0; start < len(prepared); start += batchRows {
		n := min(batchRows, len(prepared)-start)
		q := rowsQuery(`INSERT INTO contents
		(blob_id, size, internaldate, internaldate_zone, email_id, thread_id, structure, sort_keys, preview) VALUES `,
			`(?, ?, ?, ?, ?, ?, ?, ?, ?)`, n, ` RETURNING id`)
		ids, err := t.insertReturningIDs(n, q, contentArgs[9*start:9*(start+n)])
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		contentIDs = append(contentIDs, ids...)
	}
	for start := 0; start < len(prepared); start += batchRows {
		n := min(batchRows, len(prepared)-start)
		args := make([]any, 0, 5*n)
		for i := start; i < start+n; i++ {
			saved := prepared[i].saveDate
			if saved.IsZero() {
				saved = now
			}
			args = append(args, id, uids[i], saved.Unix(), prepared[i].size, contentIDs[i])
		}
		q := rowsQuery(`INSERT INTO messages (mailbox_id, uid, savedate, size, content_id) VALUES `, `(?, ?, ?, ?, ?)`, n, ``)
		if _, err := t.rowsQ(n).ExecContext(t.ctx, q, args...); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	for start := 0; start < len(bodyArgs); start += 2 * batchRows {
		part := bodyArgs[start:min(start+2*batchRows, len(bodyArgs))]
		q := rowsQuery(`INSERT INTO bodies (id, data) VALUES `, `(?, ?)`, len(part)/2, ` ON CONFLICT (id) DO NOTHING`)
		if _, err := t.rowsQ(len(part)/2).ExecContext(t.ctx, q, part...); err != nil {
			return fmt.Errorf("append: store body: %w", err)
		}
	}
	ins.uids = append(ins.uids, uids...)
	ins.contentIDs = append(ins.contentIDs, contentIDs...)
	return nil
}

// finish writes the change log entries, UIDNEXT, the counters and the text
// index (or its deferral) of every message added, and returns their UIDs
// and modseq.
func (ins *inserter) finish() ([]store.UID, store.ModSeq, error) {
	if len(ins.uids) == 0 {
		return nil, 0, nil
	}
	t, id := ins.t, ins.mb.ID
	if err := t.appendEntries(id, ins.entries); err != nil {
		return nil, 0, err
	}
	if _, err := t.q.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, ins.next, id); err != nil {
		return nil, 0, err
	}
	if err := t.applyCounters(id, ins.d); err != nil {
		return nil, 0, err
	}
	// Last, so that the index rows go in together (textindex.go).
	return ins.uids, ins.ms, t.indexAppended(ins.contentIDs, ins.texts, ins.deferred)
}

// batchRows is the most rows one multi-row INSERT of an append carries
// (9 values each at most: far below SQLite's limit on bound values).
const batchRows = 100

// rowsQuery returns head, then row n times separated by commas, then tail.
func rowsQuery(head, row string, n int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+2) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// rowsQ runs a statement over n rows: prepared once per store (stmtcache.go)
// for one row, whose text every single APPEND and delivery repeats, and for
// appendStep rows, the steps of every large append; run as it is for other
// counts, so that a text per batch size never fills the cache.
func (t *writeTx) rowsQ(n int) querier {
	if n == 1 || n == appendStep {
		return t.q
	}
	return t.tx
}

// insertReturningIDs runs a multi-row INSERT of n rows into a table whose
// ids are AUTOINCREMENT and returns the ids in the order of the rows:
// SQLite returns RETURNING rows in no promised order, but gives the rows
// of one INSERT strictly increasing ids in the order of its VALUES, so the
// sorted ids are in row order.
func (t *writeTx) insertReturningIDs(n int, q string, args []any) ([]int64, error) {
	rows, err := t.rowsQ(n).QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(ids) != n {
		return nil, fmt.Errorf("insert of %d rows returned %d ids", n, len(ids))
	}
	slices.Sort(ids)
	return ids, nil
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
