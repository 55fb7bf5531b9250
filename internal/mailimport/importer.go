package mailimport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Options control an import.
type Options struct {
	// Mailbox is where the mail goes. For a single mbox file it is the
	// target mailbox (default INBOX). For a Maildir or a directory of mbox
	// files it is the parent of everything imported: the Maildir root goes
	// into Mailbox itself (default INBOX) and its folders below it (at the
	// top level when Mailbox is empty).
	Mailbox string
	// Variant is the mbox quoting convention (default MboxRD).
	Variant MboxVariant
	// BatchSize is the number of messages per store transaction (default
	// 100); BatchBytes caps a batch's total size (default 32 MiB).
	BatchSize  int
	BatchBytes int64
	// SpoolDir holds temporary files for large messages (default the
	// system's temporary directory).
	SpoolDir string
	// Progress, if set, is called after each committed batch.
	Progress func(Stats)
	// Warn, if set, is told about messages that could not be imported and
	// keywords that had to be dropped.
	Warn func(msg string)
	// Replica, if set, is the same user's store.Replica. Duplicates are
	// then found through its content index instead of by reading the
	// target mailbox, and a Maildir folder's dovecot-uidlist is honoured:
	// a target mailbox that is new or has never held a message gets the
	// folder's UIDVALIDITY and each message its UID, so clients of the old
	// server keep their caches.
	Replica store.Replica
}

// Stats counts what an import or export did.
type Stats struct {
	Imported  int   // messages appended (or written, for an export)
	Skipped   int   // duplicates already in the target mailbox
	Failed    int   // messages the store refused (too big, bad keyword)
	Bytes     int64 // bytes of the messages imported or written
	Mailboxes int   // mailboxes (folders, files) visited
}

// pendingMessage is a message read and spooled, waiting for its batch.
type pendingMessage struct {
	spool  *spool
	flags  store.Flags
	date   time.Time
	origin string    // "file:line" or a file path, for messages about it
	uid    store.UID // the source's UID to keep; 0 for the next one
}

// importer appends messages to one target mailbox at a time, in batches,
// skipping those whose content already exists there.
type importer struct {
	ctx   context.Context
	acct  store.Account
	opts  Options
	stats Stats

	target store.MailboxInfo
	// known holds BlobIDs in the target mailbox: all of them, read at
	// setTarget, without a Replica; with one, those this import added
	// (the rest are looked up per batch).
	known      map[string]bool
	batch      []pendingMessage
	batchBytes int64
	// keepUIDs is set while the target mailbox takes the source's UIDs;
	// uidNext is then the target's UIDNEXT as this import leaves it, and
	// srcUIDNext the source's, which the target's is raised to at the end.
	keepUIDs   bool
	uidNext    store.UID
	srcUIDNext store.UID
}

func newImporter(ctx context.Context, acct store.Account, opts Options) *importer {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 32 << 20
	}
	return &importer{ctx: ctx, acct: acct, opts: opts}
}

func (im *importer) warn(format string, args ...any) {
	if im.opts.Warn != nil {
		im.opts.Warn(fmt.Sprintf(format, args...))
	}
}

// setTarget finishes the current mailbox and makes name (created when
// missing) the target of the messages that follow.
func (im *importer) setTarget(name string) error { return im.setTargetKeeping(name, nil) }

// setTargetKeeping is setTarget for a source that has its own UIDVALIDITY
// and UIDs (uids not nil): with a Replica, a target that is new or never
// held a message takes them.
func (im *importer) setTargetKeeping(name string, uids *uidList) error {
	if err := im.flush(); err != nil {
		return err
	}
	if err := im.finishUIDs(); err != nil {
		return err
	}
	im.keepUIDs = false
	info, err := im.acct.Mailbox(im.ctx, name)
	if uids != nil && im.opts.Replica != nil && (errors.Is(err, store.ErrNoMailbox) || err == nil && (info.UIDNext == 1 || info.UIDValidity == uids.uidValidity)) {
		kept, kerr := im.opts.Replica.CreateMailbox(im.ctx, name, uids.uidValidity, store.CreateOptions{SpecialUse: info.SpecialUse})
		switch {
		case kerr == nil:
			info, err = kept, nil
			im.keepUIDs, im.uidNext, im.srcUIDNext = true, kept.UIDNext, uids.uidNext
		case errors.Is(kerr, store.ErrUIDValidityUsed):
			im.warn("%s: UIDVALIDITY %d cannot be kept (this name may have had it before): clients will resynchronize", name, uids.uidValidity)
		default:
			return fmt.Errorf("mailbox %q: %w", name, kerr)
		}
	}
	if errors.Is(err, store.ErrNoMailbox) {
		info, err = im.acct.CreateMailbox(im.ctx, name, store.CreateOptions{})
		if errors.Is(err, store.ErrMailboxExists) { // created meanwhile
			info, err = im.acct.Mailbox(im.ctx, name)
		}
	}
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", name, err)
	}
	known := make(map[string]bool)
	if im.opts.Replica == nil {
		all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
		if err := im.acct.Messages(im.ctx, info.ID, all, func(m *store.MessageData) error {
			known[m.BlobID] = true
			return nil
		}); err != nil {
			return fmt.Errorf("mailbox %q: %w", name, err)
		}
	}
	im.target, im.known = info, known
	im.stats.Mailboxes++
	return nil
}

// finishUIDs raises a target that kept its source's UIDs to the source's
// UIDNEXT, so that it shows the same UIDNEXT too.
func (im *importer) finishUIDs() error {
	if !im.keepUIDs || im.srcUIDNext <= im.uidNext {
		return nil
	}
	if _, err := im.opts.Replica.Apply(im.ctx, im.target.ID, store.Batch{UIDNext: im.srcUIDNext}); err != nil {
		return fmt.Errorf("mailbox %q: %w", im.target.Name, err)
	}
	im.uidNext = im.srcUIDNext
	return nil
}

// add queues a spooled message; the importer owns sp from here on.
func (im *importer) add(p pendingMessage) error {
	id := p.spool.BlobID()
	if im.known[id] {
		im.stats.Skipped++
		return p.spool.Close()
	}
	im.known[id] = true
	// INTERNALDATE has whole seconds (RFC 9051 date-time); dropping the
	// rest here keeps a round trip through any format exact.
	p.date = p.date.Truncate(time.Second)
	p.flags.Keywords = im.validKeywords(p.flags.Keywords, p.origin)
	im.batch = append(im.batch, p)
	im.batchBytes += p.spool.Size()
	if len(im.batch) >= im.opts.BatchSize || im.batchBytes >= im.opts.BatchBytes {
		return im.flush()
	}
	return nil
}

// validKeywords drops keywords that are not IMAP atoms (RFC 9051 9,
// flag-keyword), which the store would refuse.
func (im *importer) validKeywords(kws []string, origin string) []string {
	out := kws[:0]
	for _, k := range kws {
		if !store.ValidKeyword(k) {
			im.warn("%s: keyword %q is not a valid IMAP keyword, dropped", origin, k)
			continue
		}
		out = append(out, k)
	}
	return store.NormalizeKeywords(out)
}

// flush appends the queued batch in one transaction. When the store
// refuses the batch because of one message (too big, bad keyword), the
// batch is retried one message at a time so only the bad ones fail.
func (im *importer) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	batch := im.batch
	im.batch, im.batchBytes = nil, 0
	defer func() {
		for _, p := range batch {
			p.spool.Close()
		}
	}()
	batch, err := im.dropStored(batch)
	if err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	if err := im.appendBatch(batch); err == nil {
		for _, p := range batch {
			im.stats.Imported++
			im.stats.Bytes += p.spool.Size()
		}
		im.progress()
		return nil
	} else if !isPerMessageError(err) {
		return fmt.Errorf("appending to %q: %w", im.target.Name, err)
	}
	for _, p := range batch {
		if err := im.appendBatch([]pendingMessage{p}); err != nil {
			if !isPerMessageError(err) {
				return fmt.Errorf("appending to %q: %w", im.target.Name, err)
			}
			im.stats.Failed++
			delete(im.known, p.spool.BlobID())
			im.warn("%s: not imported: %v", p.origin, err)
			continue
		}
		im.stats.Imported++
		im.stats.Bytes += p.spool.Size()
	}
	im.progress()
	return nil
}

// dropStored removes from batch (closing their spools) the messages whose
// bytes the target mailbox already holds, asking the Replica's content
// index; without one, add has already skipped them.
func (im *importer) dropStored(batch []pendingMessage) ([]pendingMessage, error) {
	if im.opts.Replica == nil {
		return batch, nil
	}
	hashes := make([]string, len(batch))
	for i, p := range batch {
		hashes[i] = p.spool.BlobID()
	}
	found, err := im.opts.Replica.FindContent(im.ctx, im.target.ID, hashes)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", im.target.Name, err)
	}
	kept := batch[:0]
	for _, p := range batch {
		if len(found[p.spool.BlobID()]) > 0 {
			im.stats.Skipped++
			p.spool.Close()
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// appendBatch appends messages in one transaction: through the Replica at
// the source's UIDs while the target keeps them, else as new messages.
func (im *importer) appendBatch(batch []pendingMessage) error {
	if !im.keepUIDs {
		msgs := make([]store.NewMessage, len(batch))
		for i, p := range batch {
			msgs[i] = store.NewMessage{Body: p.spool.Reader(), Flags: p.flags, InternalDate: p.date}
		}
		_, err := im.acct.Append(im.ctx, im.target.ID, msgs)
		return err
	}
	msgs := make([]store.ReplicaMessage, len(batch))
	next := im.uidNext
	for i, p := range batch {
		uid := p.uid
		if uid < next {
			uid = 0 // unknown, or taken since: the next UID
		}
		msgs[i] = store.ReplicaMessage{UID: uid, Body: p.spool.Reader(), ContentHash: p.spool.BlobID(), Flags: p.flags, InternalDate: p.date}
		if uid != 0 {
			next = uid + 1
		} else {
			next++
		}
	}
	res, err := im.opts.Replica.Apply(im.ctx, im.target.ID, store.Batch{Append: msgs})
	if err != nil {
		return err
	}
	im.uidNext = res.Appended[len(res.Appended)-1] + 1
	return nil
}

func isPerMessageError(err error) bool {
	return errors.Is(err, store.ErrTooBig) || errors.Is(err, store.ErrInvalidKeyword)
}

func (im *importer) progress() {
	if im.opts.Progress != nil {
		im.opts.Progress(im.stats)
	}
}

// finish appends what is still queued; it is called on error paths too, so
// that everything read before a malformed spot is kept.
func (im *importer) finish() error {
	err := im.flush()
	if err == nil {
		err = im.finishUIDs()
	}
	im.progress()
	return err
}
