package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// mailboxColumns is what scanMailbox reads, from mailboxes aliased mb.
const mailboxColumns = `mb.id, mb.name, mb.uidvalidity, mb.uidnext, mb.highestmodseq, mb.special_use,
	mb.messages, mb.unseen, mb.deleted, mb.size, mb.pruned_below, mb.guid,
	mb.changed, mb.created, mb.history_from,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = mb.user_id AND s.name = mb.name)`

type mailboxRow struct {
	store.MailboxStatus
	prunedBelow store.ModSeq
	historyFrom store.ModSeq // flag history point (schema version 5)
}

func scanMailbox(r pgx.Row) (mailboxRow, error) {
	var m mailboxRow
	var uidv int64
	var special string
	err := r.Scan(&m.ID, &m.Name, &uidv, &m.UIDNext, &m.HighestModSeq, &special,
		&m.Messages, &m.Unseen, &m.Deleted, &m.Size, &m.prunedBelow, &m.GUID,
		&m.Changed, &m.Created, &m.historyFrom, &m.Subscribed)
	m.UIDValidity = uint32(uidv)
	m.SpecialUse = store.SpecialUse(special)
	return m, err
}

// querier is what a pool and a transaction have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// lookupID reads a mailbox of the user by id; another user's mailbox is
// as absent as a deleted one.
func lookupID(ctx context.Context, q querier, userID int64, id store.MailboxID) (mailboxRow, error) {
	m, err := scanMailbox(q.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes mb WHERE mb.id = $1 AND mb.user_id = $2`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		// Tell a handle whose user was deleted (or moved to another
		// cluster) by another process from a missing mailbox: its
		// session must end (users.id is never reused).
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID).Scan(&exists); err == nil && !exists {
			return m, fmt.Errorf("mailbox %d: %w", id, store.ErrUserDeleted)
		}
		return m, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	return m, err
}

var errNotFound = errors.New("not found")

func lookupName(ctx context.Context, q querier, userID int64, name string) (mailboxRow, error) {
	m, err := scanMailbox(q.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes mb WHERE mb.user_id = $1 AND mb.name = $2`, userID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, errNotFound
	}
	return m, err
}

func (t *writeTx) mailbox(id store.MailboxID) (mailboxRow, error) {
	return lookupID(t.ctx, t.tx, t.userID, id)
}

func (t *writeTx) lookup(name string) (mailboxRow, error) {
	return lookupName(t.ctx, t.tx, t.userID, name)
}

// The write transaction supplies the statements of the shared rules.
var (
	_ storetx.Defaults = (*writeTx)(nil)
	_ storetx.Copier   = copier{}
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

// createMailbox inserts a mailbox row with a fresh replicated id and
// UIDVALIDITY. UIDNEXT starts at 1 and HIGHESTMODSEQ at 1 (store.ModSeq's
// documented start).
func (t *writeTx) createMailbox(name string, special store.SpecialUse) (store.MailboxID, error) {
	uidv, err := t.uidValidity()
	if err != nil {
		return 0, err
	}
	return t.insertMailbox(name, special, store.NewObjectID('M'), uidv, 0)
}

// insertMailbox inserts a mailbox row with the given identity, stamped
// with an account change of at least stamp, and records the (name,
// UIDVALIDITY) pair in the history.
func (t *writeTx) insertMailbox(name string, special store.SpecialUse, guid string, uidValidity uint32, stamp uint64) (store.MailboxID, error) {
	changed, err := t.accountChange(stamp)
	if err != nil {
		return 0, err
	}
	var id store.MailboxID
	err = t.tx.QueryRow(t.ctx, `INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq, special_use, guid, changed, created)
		VALUES ($1, $2, $3, 1, 1, $4, $5, $6, $6) RETURNING id`, t.userID, name, int64(uidValidity), string(special), guid, int64(changed)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	return id, t.recordUIDValidity(name, uidValidity)
}

// recordUIDValidity notes that mailbox name has (had) UIDVALIDITY v.
func (t *writeTx) recordUIDValidity(name string, v uint32) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO uidvalidity_history (user_id, name, uidvalidity) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, t.userID, name, int64(v))
	if err != nil {
		return fmt.Errorf("record UIDVALIDITY: %w", err)
	}
	return nil
}

// accountChange allocates the stamp of a mailbox create, rename, delete,
// special-use or subscription change: the next value of the user's
// account change counter for a local change; for a peer's change (stamp
// non-zero) the peer's own stamp, while the counter moves past it (a
// Lamport clock, as in the embedded store).
func (t *writeTx) accountChange(stamp uint64) (uint64, error) {
	t.accountChanged()
	var c uint64
	err := t.tx.QueryRow(t.ctx, `UPDATE users SET account_counter = greatest(account_counter + 1, $1)
		WHERE id = $2 RETURNING account_counter`, int64(stamp), t.userID).Scan(&c)
	if err != nil {
		return 0, fmt.Errorf("account counter: %w", err)
	}
	if stamp != 0 {
		return stamp, nil
	}
	return c, nil
}

// mailboxTombstone records that mailbox guid is deleted, and forgets the
// sync state kept for it.
func (t *writeTx) mailboxTombstone(guid, name string, stamp uint64) error {
	changed, err := t.accountChange(stamp)
	if err != nil {
		return err
	}
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO mailbox_tombstones (user_id, guid, name, changed) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, guid) DO UPDATE SET name = excluded.name, changed = excluded.changed`,
		t.userID, guid, name, int64(changed)); err != nil {
		return fmt.Errorf("mailbox tombstone: %w", err)
	}
	_, err = t.tx.Exec(t.ctx, `DELETE FROM replica_state WHERE user_id = $1 AND guid = $2`, t.userID, guid)
	return err
}

func (t *writeTx) createParents(name string) error { return storetx.CreateParents(t, name) }

// CreateMailbox creates name and any missing parents (RFC 9051 6.3.4).
func (a *Account) CreateMailbox(ctx context.Context, name string, opts store.CreateOptions) (store.MailboxInfo, error) {
	cname, err := storetx.CheckCreate(name, opts)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	var info store.MailboxInfo
	err = a.write(ctx, func(t *writeTx) (err error) {
		info, err = storetx.CreateMailbox(t, cname, opts.SpecialUse)
		return err
	})
	return info, err
}

// Lookup implements storetx.Mailboxes.
func (t *writeTx) Lookup(name string) (storetx.Mailbox, bool, error) {
	m, err := t.lookup(name)
	if err == errNotFound {
		return storetx.Mailbox{}, false, nil
	}
	return m.shared(), err == nil, err
}

// CreateMailbox implements storetx.Mailboxes.
func (t *writeTx) CreateMailbox(name string, special store.SpecialUse) (store.MailboxID, error) {
	return t.createMailbox(name, special)
}

// DeleteMailbox deletes a mailbox and its messages; its children stay
// (RFC 9051 6.3.5). Its id is never reused (a sequence).
func (a *Account) DeleteMailbox(ctx context.Context, name string) error {
	cname, err := storetx.CheckDelete(name)
	if err != nil {
		return err
	}
	return a.write(ctx, func(t *writeTx) error {
		return storetx.DeleteMailbox(t, cname)
	})
}

// DeleteMailbox implements storetx.Mailboxes.
func (t *writeTx) DeleteMailbox(m storetx.Mailbox) error {
	return t.deleteMailbox(mailboxRow{MailboxStatus: m.MailboxStatus, prunedBelow: m.PrunedBelow}, 0, nil)
}

// deleteMailbox deletes mailbox m and its messages, leaving a mailbox
// tombstone stamped with an account change of at least stamp that
// records the messages seen here and seen (a peer's tombstone's).
func (t *writeTx) deleteMailbox(m mailboxRow, stamp uint64, seen []string) error {
	held, err := t.seenInMailbox(m.ID)
	if err != nil {
		return err
	}
	rows, err := t.tx.Query(t.ctx, `DELETE FROM messages WHERE mailbox_id = $1 RETURNING content_id`, m.ID)
	if err != nil {
		return err
	}
	contents, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM mailboxes WHERE id = $1`, m.ID); err != nil {
		return err
	}
	if err := t.mailboxTombstone(m.GUID, m.Name, stamp); err != nil {
		return err
	}
	if err := t.recordSeen(m.GUID, store.DeletedSeen(held, seen)); err != nil {
		return err
	}
	// Announced with no modseq: watchers look and find the mailbox gone.
	t.touched[m.ID] = 0
	return t.dropUnreferencedContents(contents)
}

// RenameMailbox renames a mailbox and its subtree (storetx.RenameMailbox).
func (a *Account) RenameMailbox(ctx context.Context, oldName, newName string) error {
	from, to, err := storetx.CheckRename(oldName, newName)
	if err != nil {
		return err
	}
	return a.write(ctx, func(t *writeTx) error {
		return storetx.RenameMailbox(t, from, to)
	})
}

// Subtree implements storetx.Mailboxes.
func (t *writeTx) Subtree(name string) ([]storetx.Renaming, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT id, name, uidvalidity FROM mailboxes
		WHERE user_id = $1 AND (name = $2 OR starts_with(name, $3))`, t.userID, name, name+"/")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storetx.Renaming, error) {
		var x storetx.Renaming
		var uidv int64
		err := r.Scan(&x.ID, &x.Name, &uidv)
		x.UIDValidity = uint32(uidv)
		return x, err
	})
}

// SetMailboxName implements storetx.Mailboxes.
func (t *writeTx) SetMailboxName(id store.MailboxID, name string, changed uint64) error {
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET name = $1, changed = $2 WHERE id = $3`, name, int64(changed), id)
	return err
}

// RecordUIDValidity implements storetx.Mailboxes.
func (t *writeTx) RecordUIDValidity(name string, v uint32) error { return t.recordUIDValidity(name, v) }

// AccountChange implements storetx.Mailboxes.
func (t *writeTx) AccountChange(stamp uint64) (uint64, error) { return t.accountChange(stamp) }

// SetUIDNext implements storetx.Mailboxes.
func (t *writeTx) SetUIDNext(id store.MailboxID, next store.UID) error {
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET uidnext = $1 WHERE id = $2`, next, id)
	return err
}

// TakeMessages implements storetx.Mailboxes: the messages' rows move, the
// counters with them.
func (t *writeTx) TakeMessages(from storetx.Mailbox, to store.MailboxID, ms store.ModSeq) (store.UIDSet, error) {
	rows, err := t.tx.Query(t.ctx, `UPDATE messages SET mailbox_id = $1, modseq = $2 WHERE mailbox_id = $3 RETURNING uid`, to, ms, from.ID)
	if err != nil {
		return nil, err
	}
	uids, err := pgx.CollectRows(rows, pgx.RowTo[store.UID])
	if err != nil {
		return nil, err
	}
	// Their flag stamps were of the old mailbox's modseqs: in the new
	// one they arrive, every flag at stamp 0.
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM flag_stamps WHERE mailbox_id = $1`, to); err != nil {
		return nil, err
	}
	var moved store.UIDSet
	sortUIDs(uids)
	for _, u := range uids {
		moved.Add(u)
	}
	if len(uids) > 0 {
		// Every message of the new mailbox came at ms: one range covers them.
		log := &pgx.Batch{}
		logChanges(log, to, ms, []int64{int64(uids[0])}, []int64{int64(uids[len(uids)-1])})
		if err := t.tx.SendBatch(t.ctx, log).Close(); err != nil {
			return nil, err
		}
	}
	if _, err := t.tx.Exec(t.ctx,
		`UPDATE mailboxes SET uidnext = $1, messages = $2, unseen = $3, deleted = $4, size = $5 WHERE id = $6`,
		from.UIDNext, from.Messages, from.Unseen, from.Deleted, from.Size, to); err != nil {
		return nil, err
	}
	_, err = t.tx.Exec(t.ctx, `UPDATE mailboxes SET messages = 0, unseen = 0, deleted = 0, size = 0 WHERE id = $1`, from.ID)
	return moved, err
}

// Mailboxes lists every mailbox ordered by name (byte order, as the
// embedded store does: the database's collation plays no part).
func (a *Account) Mailboxes(ctx context.Context) ([]store.MailboxInfo, error) {
	rows, err := a.s.pool.Query(ctx, `SELECT `+mailboxColumns+` FROM mailboxes mb WHERE mb.user_id = $1 ORDER BY mb.name COLLATE "C"`, a.id)
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MailboxInfo, error) {
		m, err := scanMailbox(r)
		return m.MailboxInfo, err
	})
}

// Mailbox looks a mailbox up by name.
func (a *Account) Mailbox(ctx context.Context, name string) (store.MailboxInfo, error) {
	cname, err := store.CanonicalMailboxName(name)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	m, err := lookupName(ctx, a.s.pool, a.id, cname)
	if err == errNotFound {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %q: %w", cname, store.ErrNoMailbox)
	}
	return m.MailboxInfo, err
}

// Status returns a mailbox's counters: one row read by primary key.
func (a *Account) Status(ctx context.Context, id store.MailboxID) (store.MailboxStatus, error) {
	m, err := lookupID(ctx, a.s.pool, a.id, id)
	return m.MailboxStatus, err
}

// SetSubscribed adds or removes a subscription. The name need not exist
// (RFC 9051 6.3.7) but must be valid.
func (a *Account) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	cname, err := store.CanonicalMailboxName(name)
	if err != nil {
		return err
	}
	return a.write(ctx, func(t *writeTx) error {
		return t.setSubscribed(cname, subscribed, 0)
	})
}

// setSubscribed changes a subscription, stamped with an account change of
// at least stamp (storetx.SetSubscribed).
func (t *writeTx) setSubscribed(name string, subscribed bool, stamp uint64) error {
	return storetx.SetSubscribed(t, name, subscribed, stamp)
}

// Subscribed implements storetx.Mailboxes.
func (t *writeTx) Subscribed(name string) (bool, error) {
	var is bool
	err := t.tx.QueryRow(t.ctx, `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = $1 AND name = $2)`,
		t.userID, name).Scan(&is)
	return is, err
}

// Subscribe implements storetx.Mailboxes.
func (t *writeTx) Subscribe(name string, changed uint64) error {
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO subscriptions (user_id, name, changed) VALUES ($1, $2, $3)`,
		t.userID, name, int64(changed)); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `DELETE FROM unsubscribed WHERE user_id = $1 AND name = $2`, t.userID, name)
	return err
}

// Unsubscribe implements storetx.Mailboxes.
func (t *writeTx) Unsubscribe(name string, changed uint64) error {
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM subscriptions WHERE user_id = $1 AND name = $2`, t.userID, name); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO unsubscribed (user_id, name, changed) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, name) DO UPDATE SET changed = excluded.changed`, t.userID, name, int64(changed))
	return err
}

// Subscriptions lists subscribed names in ascending order.
func (a *Account) Subscriptions(ctx context.Context) ([]string, error) {
	rows, err := a.s.pool.Query(ctx, `SELECT name FROM subscriptions WHERE user_id = $1 ORDER BY name COLLATE "C"`, a.id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// dropUnreferencedContents marks the contents rows among ids that no
// message refers to any more as orphaned. Their bytes stay readable until
// a reclamation pass (Reclaim) removes them after a grace period, since a
// session of any node may be reading such a message right now.
func (t *writeTx) dropUnreferencedContents(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE contents c SET orphaned_at = now() WHERE c.id = ANY($1) AND c.orphaned_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.content_id = c.id)`, ids)
	if err != nil {
		return fmt.Errorf("orphan contents: %w", err)
	}
	return nil
}

// dropUnreferencedBodies deletes the bodies among ids that no contents row
// of any user names. Bodies are shared between users, so another user's
// transaction may be adding a reference right now: the foreign key from
// contents makes this delete wait for it and then fail, which the
// savepoint absorbs (the body stays). The other way round, an append that
// finds its body deleted under it fails on the foreign key and is retried
// (retryable), writing the body again.
func (t *writeTx) dropUnreferencedBodies(ids []string) error {
	for _, id := range uniqueStrings(ids) {
		sp, err := t.tx.Begin(t.ctx)
		if err != nil {
			return err
		}
		_, err = sp.Exec(t.ctx, `DELETE FROM bodies b WHERE b.id = $1
			AND NOT EXISTS (SELECT 1 FROM contents c WHERE c.blob_id = $1)`, id)
		if err != nil {
			if rerr := sp.Rollback(t.ctx); rerr != nil {
				return rerr
			}
			continue
		}
		if err := sp.Commit(t.ctx); err != nil {
			return err
		}
	}
	return nil
}
