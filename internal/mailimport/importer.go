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
	origin string // "file:line" or a file path, for messages about it
}

// importer appends messages to one target mailbox at a time, in batches,
// skipping those whose content already exists there.
type importer struct {
	ctx   context.Context
	acct  store.Account
	opts  Options
	stats Stats

	target     store.MailboxInfo
	known      map[string]bool // BlobIDs in the target mailbox
	batch      []pendingMessage
	batchBytes int64
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
func (im *importer) setTarget(name string) error {
	if err := im.flush(); err != nil {
		return err
	}
	info, err := im.acct.Mailbox(im.ctx, name)
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
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	if err := im.acct.Messages(im.ctx, info.ID, all, func(m *store.MessageData) error {
		known[m.BlobID] = true
		return nil
	}); err != nil {
		return fmt.Errorf("mailbox %q: %w", name, err)
	}
	im.target, im.known = info, known
	im.stats.Mailboxes++
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
	msgs := make([]store.NewMessage, len(batch))
	for i, p := range batch {
		msgs[i] = store.NewMessage{Body: p.spool.Reader(), Flags: p.flags, InternalDate: p.date}
	}
	_, err := im.acct.Append(im.ctx, im.target.ID, msgs)
	if err == nil {
		for _, p := range batch {
			im.stats.Imported++
			im.stats.Bytes += p.spool.Size()
		}
		im.progress()
		return nil
	}
	if !isPerMessageError(err) {
		return fmt.Errorf("appending to %q: %w", im.target.Name, err)
	}
	for _, p := range batch {
		one := []store.NewMessage{{Body: p.spool.Reader(), Flags: p.flags, InternalDate: p.date}}
		if _, err := im.acct.Append(im.ctx, im.target.ID, one); err != nil {
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
	im.progress()
	return err
}
