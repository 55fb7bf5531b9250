package sqlitestore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// CreateDefaults implements store.DefaultCreator. The mark that the
// defaults were given is meta.defaults_given, written in the transaction
// that creates them; writers of a user are serialized, so of two first
// logins at once only one finds the mark absent.
func (a *Account) CreateDefaults(ctx context.Context, defs []store.DefaultMailbox) ([]store.MailboxInfo, error) {
	for i, d := range defs {
		cname, err := canonicalMailboxName(d.Name)
		if err != nil {
			return nil, err
		}
		if !validSpecialUse(d.SpecialUse) {
			return nil, fmt.Errorf("special-use %q: %w", d.SpecialUse, store.ErrCannot)
		}
		defs[i].Name = cname
	}
	// Most logins are not the first: answer them without a write
	// transaction (and its fsync).
	var given int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE key = 'defaults_given'`).Scan(&given); err != nil {
		return nil, err
	}
	if given > 0 {
		return nil, nil
	}
	var created []store.MailboxInfo
	err := a.u.write(ctx, func(t *writeTx) error {
		created = nil
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM meta WHERE key = 'defaults_given'`).Scan(&given); err != nil {
			return err
		}
		if given > 0 {
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
				if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM mailboxes WHERE special_use = ?`, string(d.SpecialUse)).Scan(&n); err != nil {
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
			if err := t.setSubscribed(d.Name, true, 0); err != nil {
				return err
			}
			m, err := t.mailbox(id)
			if err != nil {
				return err
			}
			created = append(created, m.MailboxInfo)
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES ('defaults_given', 1)`)
		return err
	})
	return created, err
}
