package sqlitestore

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// threadID returns the thread a new message joins (RFC 8474 THREADID): the
// thread of its own Message-ID if a message already referred to it, else
// the thread of the first message id it refers to that is known, else a new
// thread. Every id it names is then recorded in that thread. Threads are
// never merged afterwards: a message linking two existing threads joins the
// first one found.
func (t *writeTx) threadID(th message.ThreadRefs) (string, error) {
	ids := th.IDs()
	var thread string
	for _, id := range ids {
		err := t.q.QueryRowContext(t.ctx, `SELECT thread_id FROM thread_refs WHERE message_id = ?`, id).Scan(&thread)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("thread lookup: %w", err)
		}
	}
	if thread == "" {
		thread = store.NewObjectID('T')
	}
	return thread, t.recordThread(ids, thread)
}

// recordThread notes that the message ids belong to thread (the first
// thread recorded for an id stays).
func (t *writeTx) recordThread(ids []string, thread string) error {
	for _, id := range ids {
		if _, err := t.q.ExecContext(t.ctx,
			`INSERT INTO thread_refs (message_id, thread_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, thread); err != nil {
			return fmt.Errorf("thread record: %w", err)
		}
	}
	return nil
}
