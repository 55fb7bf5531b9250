package pgstore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// CreateDefaults implements store.DefaultCreator. The mark is
// users.defaults_given, set in the transaction that creates the
// mailboxes; that transaction holds the user's row lock (write), so of
// two first logins at once, on any nodes, only one finds it unset.
func (a *Account) CreateDefaults(ctx context.Context, defs []store.DefaultMailbox) ([]store.MailboxInfo, error) {
	if err := storetx.CanonicalDefaults(defs); err != nil {
		return nil, err
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
	err := a.write(ctx, func(t *writeTx) (err error) {
		created, err = storetx.CreateDefaults(t, defs)
		return err
	})
	return created, err
}

// DefaultsGiven implements storetx.Defaults.
func (t *writeTx) DefaultsGiven() (bool, error) {
	var given bool
	err := t.tx.QueryRow(t.ctx, `SELECT defaults_given FROM users WHERE id = $1`, t.userID).Scan(&given)
	return given, err
}

// MarkDefaultsGiven implements storetx.Defaults.
func (t *writeTx) MarkDefaultsGiven() error {
	_, err := t.tx.Exec(t.ctx, `UPDATE users SET defaults_given = true WHERE id = $1`, t.userID)
	return err
}

// SpecialUseTaken implements storetx.Defaults.
func (t *writeTx) SpecialUseTaken(use store.SpecialUse) (bool, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM mailboxes WHERE user_id = $1 AND special_use = $2`, t.userID, string(use)).Scan(&n)
	return n > 0, err
}

// SubscribeDefault implements storetx.Defaults. The row takes no account
// change stamp (its changed column keeps its default).
func (t *writeTx) SubscribeDefault(name string) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, t.userID, name)
	return err
}
