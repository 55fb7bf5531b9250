package pgstore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// CreateDefaults implements store.DefaultCreator. The mark is
// users.defaults_given, set in the transaction that creates the
// mailboxes; that transaction holds the user's row lock (write), so of
// two first logins at once, on any nodes, only one finds it unset.
func (a *Account) CreateDefaults(ctx context.Context, defs []store.DefaultMailbox) ([]store.MailboxInfo, error) {
	for i, d := range defs {
		cname, err := store.CanonicalMailboxName(d.Name)
		if err != nil {
			return nil, err
		}
		if !store.ValidSpecialUse(d.SpecialUse) {
			return nil, fmt.Errorf("special-use %q: %w", d.SpecialUse, store.ErrCannot)
		}
		defs[i].Name = cname
	}
	// Most logins are not the first: answer them without locking.
	var given bool
	if err := a.s.pool.QueryRow(ctx, `SELECT defaults_given FROM users WHERE id = $1`, a.id).Scan(&given); err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	if given {
		return nil, nil
	}
	var created []store.MailboxInfo
	err := a.write(ctx, func(t *writeTx) error {
		created = nil
		if err := t.tx.QueryRow(t.ctx, `SELECT defaults_given FROM users WHERE id = $1`, t.userID).Scan(&given); err != nil {
			return err
		}
		if given {
			return nil
		}
		for _, d := range defs {
			if _, err := t.lookup(d.Name); err == nil {
				continue
			} else if err != errNotFound {
				return err
			}
			if d.SpecialUse != "" {
				var n int
				if err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM mailboxes WHERE user_id = $1 AND special_use = $2`, t.userID, string(d.SpecialUse)).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					continue
				}
			}
			if err := t.createParents(d.Name); err != nil {
				return err
			}
			id, err := t.createMailbox(d.Name, d.SpecialUse)
			if err != nil {
				return err
			}
			if _, err := t.tx.Exec(t.ctx, `INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, t.userID, d.Name); err != nil {
				return err
			}
			m, err := t.mailbox(id)
			if err != nil {
				return err
			}
			created = append(created, m.MailboxInfo)
		}
		_, err := t.tx.Exec(t.ctx, `UPDATE users SET defaults_given = true WHERE id = $1`, t.userID)
		return err
	})
	return created, err
}
