package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// createMailbox inserts a mailbox row with a fresh replicated id and
// UIDVALIDITY. UIDNEXT starts at 1 and HIGHESTMODSEQ at 1 (store.ModSeq's
// documented start).
func (t *writeTx) createMailbox(name string, special store.SpecialUse) (store.MailboxID, error) {
	return t.insertMailbox(name, special, store.NewObjectID('M'), t.uidValidity(), 0)
}

// insertMailbox inserts a mailbox row with the given identity, stamped
// with an account change of at least stamp.
func (t *writeTx) insertMailbox(name string, special store.SpecialUse, guid string, uidValidity uint32, stamp uint64) (store.MailboxID, error) {
	changed, err := t.accountChange(stamp)
	if err != nil {
		return 0, err
	}
	var id store.MailboxID
	err = t.tx.QueryRowContext(t.ctx,
		`INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, special_use, guid, changed, created) VALUES (?, ?, 1, 1, ?, ?, ?, ?) RETURNING id`,
		name, uidValidity, string(special), guid, changed, changed).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	return id, t.recordUIDValidity(name, uidValidity)
}

// CreateMailboxAt implements storetx.ReplicaMailboxes.
func (t *writeTx) CreateMailboxAt(name string, uidValidity uint32, special store.SpecialUse) (store.MailboxID, error) {
	return t.insertMailbox(name, special, store.NewObjectID('M'), uidValidity, 0)
}

// CreateMailbox creates name and any missing parents (RFC 9051 6.3.4).
func (a *Account) CreateMailbox(ctx context.Context, name string, opts store.CreateOptions) (store.MailboxInfo, error) {
	cname, err := storetx.CheckCreate(name, opts)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	var info store.MailboxInfo
	err = a.u.write(ctx, func(t *writeTx) (err error) {
		info, err = storetx.CreateMailbox(t, cname, opts.SpecialUse)
		return err
	})
	return info, err
}

func (t *writeTx) createParents(name string) error { return storetx.CreateParents(t, name) }

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
// (RFC 9051 6.3.5). Its id is never reused.
func (a *Account) DeleteMailbox(ctx context.Context, name string) error {
	cname, err := storetx.CheckDelete(name)
	if err != nil {
		return err
	}
	return a.u.write(ctx, func(t *writeTx) error {
		return storetx.DeleteMailbox(t, cname)
	})
}

// DeleteMailbox implements storetx.Mailboxes.
func (t *writeTx) DeleteMailbox(m storetx.Mailbox) error {
	return t.deleteMailbox(mailboxRow{MailboxStatus: m.MailboxStatus, prunedBelow: m.PrunedBelow}, 0, nil)
}

// deleteMailbox removes a mailbox with its messages and history, leaving
// a mailbox tombstone stamped with an account change of at least stamp
// that records the messages seen here and seen (a peer's tombstone's).
func (t *writeTx) deleteMailbox(m mailboxRow, stamp uint64, seen []string) error {
	held, err := t.seenInMailbox(m.ID)
	if err != nil {
		return err
	}
	rows, err := t.tx.QueryContext(t.ctx, `DELETE FROM messages WHERE mailbox_id = ? RETURNING content_id`, m.ID)
	if err != nil {
		return err
	}
	var contents []int64
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		contents = append(contents, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := t.dropUnreferencedContents(contents); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM tombstones WHERE mailbox_id = ?`,
		`DELETE FROM message_chunks WHERE mailbox_id = ?`,
		`DELETE FROM flag_history WHERE mailbox_id = ?`,
		`DELETE FROM expunged_ids WHERE mailbox_id = ?`,
	} {
		if _, err := t.tx.ExecContext(t.ctx, q, m.ID); err != nil {
			return err
		}
	}
	if err := t.mailboxTombstone(m.GUID, m.Name, stamp); err != nil {
		return err
	}
	if err := t.recordSeen(m.GUID, store.DeletedSeen(held, seen)); err != nil {
		return err
	}
	// Announced with no modseq: watchers look and find the mailbox gone.
	t.touched[m.ID] = 0
	_, err = t.tx.ExecContext(t.ctx, `DELETE FROM mailboxes WHERE id = ?`, m.ID)
	return err
}

// mailboxTombstone records that mailbox guid is deleted, and forgets the
// sync state kept for it.
func (t *writeTx) mailboxTombstone(guid, name string, stamp uint64) error {
	changed, err := t.accountChange(stamp)
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO mailbox_tombstones (guid, name, changed) VALUES (?, ?, ?)
		ON CONFLICT (guid) DO UPDATE SET name = excluded.name, changed = excluded.changed`, guid, name, changed); err != nil {
		return fmt.Errorf("mailbox tombstone: %w", err)
	}
	_, err = t.tx.ExecContext(t.ctx, `DELETE FROM replica_state WHERE guid = ?`, guid)
	return err
}

// dropUnreferencedContents deletes the contents rows among ids that no
// message refers to any more. The bodies they named stay: a session may
// still read them, and reclamation removes them once no reader can
// (reclaim.go).
func (t *writeTx) dropUnreferencedContents(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids) // copies share contents: test each once
	var bodies []string
	var gone []int64
	for _, id := range ids {
		var body string
		err := t.q.QueryRowContext(t.ctx,
			`DELETE FROM contents WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE content_id = ?) RETURNING blob_id`, id, id).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			continue // still referenced
		}
		if err != nil {
			return fmt.Errorf("drop contents: %w", err)
		}
		gone = append(gone, id)
		bodies = append(bodies, body)
	}
	slices.Sort(bodies)
	t.dropped = append(t.dropped, slices.Compact(bodies)...)
	return t.unindexDropped(gone)
}

// RenameMailbox renames a mailbox and its subtree (storetx.RenameMailbox).
func (a *Account) RenameMailbox(ctx context.Context, oldName, newName string) error {
	from, to, err := storetx.CheckRename(oldName, newName)
	if err != nil {
		return err
	}
	return a.u.write(ctx, func(t *writeTx) error {
		return storetx.RenameMailbox(t, from, to)
	})
}

// Subtree implements storetx.Mailboxes. The names below name are the
// range from "name/" up to "name0" ('0' follows '/'), compared by bytes
// (substr would count characters, not the bytes of name).
func (t *writeTx) Subtree(name string) ([]storetx.Renaming, error) {
	rows, err := t.tx.QueryContext(t.ctx,
		`SELECT id, name, uidvalidity FROM mailboxes WHERE name = ? OR (name >= ? AND name < ?)`, name, name+"/", name+"0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storetx.Renaming
	for rows.Next() {
		var r storetx.Renaming
		if err := rows.Scan(&r.ID, &r.Name, &r.UIDValidity); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetMailboxName implements storetx.Mailboxes.
func (t *writeTx) SetMailboxName(id store.MailboxID, name string, changed uint64) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET name = ?, changed = ? WHERE id = ?`, name, changed, id)
	return err
}

// RecordUIDValidity implements storetx.Mailboxes.
func (t *writeTx) RecordUIDValidity(name string, v uint32) error { return t.recordUIDValidity(name, v) }

// AccountChange implements storetx.Mailboxes.
func (t *writeTx) AccountChange(stamp uint64) (uint64, error) { return t.accountChange(stamp) }

// SetUIDNext implements storetx.Mailboxes.
func (t *writeTx) SetUIDNext(id store.MailboxID, next store.UID) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, next, id)
	return err
}

// TakeMessages implements storetx.Mailboxes: the messages' rows and chunk
// entries move, the counters and the \Recent floor with them.
func (t *writeTx) TakeMessages(from storetx.Mailbox, to store.MailboxID, ms store.ModSeq) (store.UIDSet, error) {
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?`, to, from.ID); err != nil {
		return nil, err
	}
	cs, err := loadChunks(t, from.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}})
	if err != nil {
		return nil, err
	}
	var moved store.UIDSet
	for _, c := range cs {
		c.mailbox = to
		c.dirty = true
		for i := range c.entries {
			c.entries[i].modseq = ms
			moved.Add(c.entries[i].uid)
		}
	}
	if err := t.saveChunks(cs); err != nil {
		return nil, err
	}
	if _, err := t.tx.ExecContext(t.ctx,
		`UPDATE mailboxes SET uidnext = ?, messages = ?, unseen = ?, deleted = ?, size = ? WHERE id = ?`,
		from.UIDNext, from.Messages, from.Unseen, from.Deleted, from.Size, to); err != nil {
		return nil, err
	}
	// The moved messages keep their UIDs, so they keep their \Recent
	// state too: the new mailbox takes the old one's recent floor.
	if _, err := t.tx.ExecContext(t.ctx,
		`UPDATE mailboxes SET recent_uid = (SELECT recent_uid FROM mailboxes WHERE id = ?) WHERE id = ?`, from.ID, to); err != nil {
		return nil, err
	}
	_, err = t.tx.ExecContext(t.ctx,
		`UPDATE mailboxes SET messages = 0, unseen = 0, deleted = 0, size = 0 WHERE id = ?`, from.ID)
	return moved, err
}

// Mailboxes lists every mailbox ordered by name.
func (a *Account) Mailboxes(ctx context.Context) ([]store.MailboxInfo, error) {
	rows, err := a.u.r.QueryContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	defer rows.Close()
	var out []store.MailboxInfo
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m.MailboxInfo)
	}
	return out, rows.Err()
}

// Mailbox looks a mailbox up by name.
func (a *Account) Mailbox(ctx context.Context, name string) (store.MailboxInfo, error) {
	cname, err := canonicalMailboxName(name)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	m, err := lookupName(ctx, a.u.reads(), cname)
	if err == errNotFound {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %q: %w", cname, store.ErrNoMailbox)
	}
	return m.MailboxInfo, err
}

// Status returns a mailbox's counters.
func (a *Account) Status(ctx context.Context, id store.MailboxID) (store.MailboxStatus, error) {
	m, err := lookupID(ctx, a.u.reads(), id)
	return m.MailboxStatus, err
}

// SetSubscribed adds or removes a subscription. The name need not exist
// (RFC 9051 6.3.7) but must be valid.
func (a *Account) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	cname, err := canonicalMailboxName(name)
	if err != nil {
		return err
	}
	return a.u.write(ctx, func(t *writeTx) error {
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
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM subscriptions WHERE name = ?`, name).Scan(&n)
	return n > 0, err
}

// Subscribe implements storetx.Mailboxes.
func (t *writeTx) Subscribe(name string, changed uint64) error {
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO subscriptions (name, changed) VALUES (?, ?)`, name, changed); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(t.ctx, `DELETE FROM unsubscribed WHERE name = ?`, name)
	return err
}

// Unsubscribe implements storetx.Mailboxes.
func (t *writeTx) Unsubscribe(name string, changed uint64) error {
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM subscriptions WHERE name = ?`, name); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO unsubscribed (name, changed) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET changed = excluded.changed`, name, changed)
	return err
}

// Subscriptions lists subscribed names in ascending order.
func (a *Account) Subscriptions(ctx context.Context) ([]string, error) {
	rows, err := a.u.r.QueryContext(ctx, `SELECT name FROM subscriptions ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
