package sqlitestore

import (
	"context"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// CreateDefaults implements store.DefaultCreator. The mark that the
// defaults were given is meta.defaults_given, written in the transaction
// that creates them; writers of a user are serialized, so of two first
// logins at once only one finds the mark absent.
func (a *Account) CreateDefaults(ctx context.Context, defs []store.DefaultMailbox) ([]store.MailboxInfo, error) {
	if err := storetx.CanonicalDefaults(defs); err != nil {
		return nil, err
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
	err := a.u.write(ctx, func(t *writeTx) (err error) {
		created, err = storetx.CreateDefaults(t, defs)
		return err
	})
	return created, err
}

// DefaultsGiven implements storetx.Defaults.
func (t *writeTx) DefaultsGiven() (bool, error) {
	var given int
	err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM meta WHERE key = 'defaults_given'`).Scan(&given)
	return given > 0, err
}

// MarkDefaultsGiven implements storetx.Defaults.
func (t *writeTx) MarkDefaultsGiven() error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES ('defaults_given', 1)`)
	return err
}

// SpecialUseTaken implements storetx.Defaults.
func (t *writeTx) SpecialUseTaken(use store.SpecialUse) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM mailboxes WHERE special_use = ?`, string(use)).Scan(&n)
	return n > 0, err
}

// SubscribeDefault implements storetx.Defaults: a subscription like any
// other, stamped.
func (t *writeTx) SubscribeDefault(name string) error { return t.setSubscribed(name, true, 0) }
