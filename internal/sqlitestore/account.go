package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// Account is a handle on one user's store; it implements store.Account.
// Handles are safe for concurrent use.
type Account struct {
	s      *Store
	u      *userDB
	closed atomic.Bool
}

var _ store.Account = (*Account)(nil)

// User returns the user's (lower-case) name.
func (a *Account) User() string { return a.u.name }

// Close releases the handle. It is safe to call more than once.
// Revoked reports that the user's store was deleted while a was open
// (store.Revocable).
func (a *Account) Revoked() bool { return a.u.deleted() }

func (a *Account) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	return a.s.release(a.u)
}

var errNotFound = errors.New("not found")

// mailboxColumns is what scanMailbox reads.
const mailboxColumns = `id, name, uidvalidity, uidnext, highestmodseq, special_use,
	messages, unseen, deleted, size, pruned_below, guid, changed, created, history_from,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.name = mailboxes.name)`

type mailboxRow struct {
	store.MailboxStatus
	prunedBelow store.ModSeq
	// historyFrom: flag changes to messages whose modseq is at or below it
	// record the flags they replace (flag_history).
	historyFrom store.ModSeq
}

type scanner interface{ Scan(dest ...any) error }

func scanMailbox(r scanner) (mailboxRow, error) {
	var m mailboxRow
	var special string
	err := r.Scan(&m.ID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &special,
		&m.Messages, &m.Unseen, &m.Deleted, &m.Size, &m.prunedBelow, &m.GUID, &m.Changed, &m.Created, &m.historyFrom, &m.Subscribed)
	if errors.Is(err, sql.ErrNoRows) {
		return m, errNotFound
	}
	m.SpecialUse = store.SpecialUse(special)
	return m, err
}

func lookupName(ctx context.Context, q querier, name string) (mailboxRow, error) {
	return scanMailbox(q.QueryRowContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE name = ?`, name))
}

func lookupID(ctx context.Context, q querier, id store.MailboxID) (mailboxRow, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE id = ?`, id))
	if err == errNotFound {
		return m, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	return m, err
}

func (t *writeTx) lookup(name string) (mailboxRow, error) { return lookupName(t.ctx, t.tx, name) }

func (t *writeTx) mailbox(id store.MailboxID) (mailboxRow, error) { return lookupID(t.ctx, t.q, id) }

// The write transaction supplies the statements of the shared rules.
var (
	_ storetx.Defaults = (*writeTx)(nil)
	_ storetx.Copier   = (*writeTx)(nil)
)

// Mailbox implements storetx.Tx.
func (t *writeTx) Mailbox(id store.MailboxID) (storetx.Mailbox, error) {
	m, err := t.mailbox(id)
	return m.shared(), err
}

// ModSeq implements storetx.Tx.
func (t *writeTx) ModSeq(id store.MailboxID) (store.ModSeq, error) { return t.modseq(id) }

// shared is m as the backend-neutral rules see it.
func (m mailboxRow) shared() storetx.Mailbox {
	return storetx.Mailbox{MailboxStatus: m.MailboxStatus, PrunedBelow: m.prunedBelow}
}
