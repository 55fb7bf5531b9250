package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
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

// createMailboxAt inserts a mailbox row with a fresh replicated id and the
// given UIDVALIDITY, and records the pair in the UIDVALIDITY history.
func (t *writeTx) createMailboxAt(name string, uidValidity uint32, special store.SpecialUse) (store.MailboxID, error) {
	return t.insertMailbox(name, special, store.NewObjectID('M'), uidValidity, 0)
}

// CreateMailbox creates name and any missing parents (RFC 9051 6.3.4).
func (a *Account) CreateMailbox(ctx context.Context, name string, opts store.CreateOptions) (store.MailboxInfo, error) {
	cname, err := canonicalMailboxName(name)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	if !validSpecialUse(opts.SpecialUse) {
		return store.MailboxInfo{}, fmt.Errorf("special-use %q: %w", opts.SpecialUse, store.ErrCannot)
	}
	var info store.MailboxInfo
	err = a.u.write(ctx, func(t *writeTx) error {
		if _, err := t.lookup(cname); err == nil {
			return fmt.Errorf("create %q: %w", cname, store.ErrMailboxExists)
		} else if err != errNotFound {
			return err
		}
		if err := t.createParents(cname); err != nil {
			return err
		}
		id, err := t.createMailbox(cname, opts.SpecialUse)
		if err != nil {
			return err
		}
		m, err := t.mailbox(id)
		info = m.MailboxInfo
		return err
	})
	return info, err
}

func (t *writeTx) createParents(name string) error {
	for _, p := range parentNames(name) {
		if _, err := t.lookup(p); err == errNotFound {
			if _, err := t.createMailbox(p, ""); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// DeleteMailbox deletes a mailbox and its messages; its children stay
// (RFC 9051 6.3.5). Its id is never reused, and a mailbox created later
// under the same name gets a new UIDVALIDITY.
func (a *Account) DeleteMailbox(ctx context.Context, name string) error {
	cname, err := canonicalMailboxName(name)
	if err != nil {
		return err
	}
	if cname == "INBOX" {
		return fmt.Errorf("delete INBOX: %w", store.ErrCannot)
	}
	return a.u.write(ctx, func(t *writeTx) error {
		m, err := t.lookup(cname)
		if err == errNotFound {
			return fmt.Errorf("delete %q: %w", cname, store.ErrNoMailbox)
		} else if err != nil {
			return err
		}
		return t.deleteMailbox(m, 0)
	})
}

// deleteMailbox removes a mailbox with its messages and history, leaving
// a mailbox tombstone stamped with an account change of at least stamp.
func (t *writeTx) deleteMailbox(m mailboxRow, stamp uint64) error {
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
	stmt, err := t.tx.PrepareContext(t.ctx,
		`DELETE FROM contents WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE content_id = ?) RETURNING blob_id`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	var bodies []string
	for _, id := range ids {
		var body string
		err := stmt.QueryRowContext(t.ctx, id, id).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			continue // still referenced
		}
		if err != nil {
			return fmt.Errorf("drop contents: %w", err)
		}
		if err := t.unindexContent(id); err != nil {
			return err
		}
		bodies = append(bodies, body)
	}
	slices.Sort(bodies)
	t.dropped = append(t.dropped, slices.Compact(bodies)...)
	return nil
}

// RenameMailbox renames a mailbox and its subtree, keeping ids and so
// UIDVALIDITY (RFC 9051 6.3.6). Missing parents of the new name are
// created. Renaming INBOX moves its messages to a new mailbox, keeping
// their UIDs, and leaves INBOX empty; INBOX's children are not renamed.
func (a *Account) RenameMailbox(ctx context.Context, oldName, newName string) error {
	from, err := canonicalMailboxName(oldName)
	if err != nil {
		return err
	}
	to, err := canonicalMailboxName(newName)
	if err != nil {
		return err
	}
	if to == "INBOX" {
		return fmt.Errorf("rename to INBOX: %w", store.ErrMailboxExists)
	}
	if strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("rename %q into its own subtree: %w", from, store.ErrCannot)
	}
	return a.u.write(ctx, func(t *writeTx) error {
		src, err := t.lookup(from)
		if err == errNotFound {
			return fmt.Errorf("rename %q: %w", from, store.ErrNoMailbox)
		} else if err != nil {
			return err
		}
		if from == "INBOX" {
			return t.renameInbox(src, to)
		}
		if from == to {
			return fmt.Errorf("rename %q to itself: %w", from, store.ErrMailboxExists)
		}
		// Every mailbox of the subtree, with its new name.
		rows, err := t.tx.QueryContext(t.ctx,
			`SELECT id, name, uidvalidity FROM mailboxes WHERE name = ? OR substr(name, 1, ?) = ?`, from, len(from)+1, from+"/")
		if err != nil {
			return err
		}
		type rename struct {
			id          store.MailboxID
			newName     string
			uidValidity uint32
		}
		var moves []rename
		for rows.Next() {
			var r rename
			var name string
			if err := rows.Scan(&r.id, &name, &r.uidValidity); err != nil {
				rows.Close()
				return err
			}
			r.newName = to + name[len(from):]
			moves = append(moves, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range moves {
			if _, err := t.lookup(r.newName); err == nil {
				return fmt.Errorf("rename to %q: %w", r.newName, store.ErrMailboxExists)
			} else if err != errNotFound {
				return err
			}
		}
		// Two steps so that no intermediate name collides with the UNIQUE
		// constraint while the subtree is half renamed.
		for _, r := range moves {
			if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET name = '/renaming/' || id WHERE id = ?`, r.id); err != nil {
				return err
			}
		}
		for _, r := range moves {
			changed, err := t.accountChange(0)
			if err != nil {
				return err
			}
			if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET name = ?, changed = ? WHERE id = ?`, r.newName, changed, r.id); err != nil {
				return err
			}
			// The new name now has this UIDVALIDITY too.
			if err := t.recordUIDValidity(r.newName, r.uidValidity); err != nil {
				return err
			}
		}
		return t.createParents(to)
	})
}

// renameInbox implements RFC 9051 6.3.6 for INBOX: a new mailbox takes
// INBOX's messages (same UIDs, under its own new UIDVALIDITY) and INBOX is
// left empty, the moved messages becoming tombstones there.
func (t *writeTx) renameInbox(inbox mailboxRow, to string) error {
	if _, err := t.lookup(to); err == nil {
		return fmt.Errorf("rename to %q: %w", to, store.ErrMailboxExists)
	} else if err != errNotFound {
		return err
	}
	if err := t.createParents(to); err != nil {
		return err
	}
	dst, err := t.createMailbox(to, "")
	if err != nil {
		return err
	}
	if err := t.copyMetadata(inbox.ID, dst); err != nil {
		return err
	}
	if inbox.Messages == 0 {
		_, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, inbox.UIDNext, dst)
		return err
	}
	dstSeq, err := t.modseq(dst)
	if err != nil {
		return err
	}
	srcSeq, err := t.modseq(inbox.ID)
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?`, dst, inbox.ID); err != nil {
		return err
	}
	cs, err := loadChunks(t, inbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}})
	if err != nil {
		return err
	}
	var gone store.UIDSet
	for _, c := range cs {
		c.mailbox = dst
		c.dirty = true
		for i := range c.entries {
			c.entries[i].modseq = dstSeq
			gone.Add(c.entries[i].uid)
		}
	}
	if err := t.saveChunks(cs); err != nil {
		return err
	}
	if err := t.addTombstones(inbox.ID, gone, srcSeq); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx,
		`UPDATE mailboxes SET uidnext = ?, messages = ?, unseen = ?, deleted = ?, size = ? WHERE id = ?`,
		inbox.UIDNext, inbox.Messages, inbox.Unseen, inbox.Deleted, inbox.Size, dst); err != nil {
		return err
	}
	// The moved messages keep their UIDs, so they keep their \Recent
	// state too: the new mailbox takes INBOX's recent floor.
	if _, err := t.tx.ExecContext(t.ctx,
		`UPDATE mailboxes SET recent_uid = (SELECT recent_uid FROM mailboxes WHERE id = ?) WHERE id = ?`, inbox.ID, dst); err != nil {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx,
		`UPDATE mailboxes SET messages = 0, unseen = 0, deleted = 0, size = 0 WHERE id = ?`, inbox.ID)
	return err
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
	m, err := lookupName(ctx, a.u.r, cname)
	if err == errNotFound {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %q: %w", cname, store.ErrNoMailbox)
	}
	return m.MailboxInfo, err
}

// Status returns a mailbox's counters.
func (a *Account) Status(ctx context.Context, id store.MailboxID) (store.MailboxStatus, error) {
	m, err := lookupID(ctx, a.u.r, id)
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
// at least stamp; a change already true changes nothing. A removed
// subscription is remembered in unsubscribed, so that replicas can tell
// "unsubscribed here" from "subscribed there".
func (t *writeTx) setSubscribed(name string, subscribed bool, stamp uint64) error {
	var n int
	if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM subscriptions WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if (n > 0) == subscribed {
		return nil
	}
	changed, err := t.accountChange(stamp)
	if err != nil {
		return err
	}
	if subscribed {
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO subscriptions (name, changed) VALUES (?, ?)`, name, changed); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(t.ctx, `DELETE FROM unsubscribed WHERE name = ?`, name)
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM subscriptions WHERE name = ?`, name); err != nil {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO unsubscribed (name, changed) VALUES (?, ?)
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
