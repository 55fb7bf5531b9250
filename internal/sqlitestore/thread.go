package sqlitestore

import (
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// threadIDs returns the thread each new message of an append joins (RFC
// 8474 THREADID): the thread of its own Message-ID if a message already referred to it, else
// the thread of the first message id it refers to that is known, else a new
// thread. Every id it names is then recorded in that thread. Threads are
// never merged afterwards: a message linking two existing threads joins the
// first one found.
//
// The messages are taken in order, each seeing what the ones before it
// recorded, with one lookup of every id the batch
// names and one insert of the new ones (per batchRows), rather than a
// statement per id. A message with a kept THREADID (a replica's) stays in
// it and records its ids there.
func (t *writeTx) threadIDs(prepared []preparedMessage) ([]string, error) {
	known := map[string]string{} // message id → thread, recorded or looked up
	var ask []string
	for _, p := range prepared {
		for _, id := range p.thread.IDs() {
			if _, ok := known[id]; !ok {
				known[id] = ""
				ask = append(ask, id)
			}
		}
	}
	for start := 0; start < len(ask); start += batchRows {
		part := ask[start:min(start+batchRows, len(ask))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		q := rowsQuery(`SELECT message_id, thread_id FROM thread_refs WHERE message_id IN (`, `?`, len(part), `)`)
		rows, err := t.rowsQ(len(part)).QueryContext(t.ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("thread lookup: %w", err)
		}
		for rows.Next() {
			var id, thread string
			if err := rows.Scan(&id, &thread); err != nil {
				rows.Close()
				return nil, fmt.Errorf("thread lookup: %w", err)
			}
			known[id] = thread
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("thread lookup: %w", err)
		}
	}
	threads := make([]string, len(prepared))
	var record []any // message id, thread pairs
	for i, p := range prepared {
		ids := p.thread.IDs()
		thread := p.threadID
		for _, id := range ids {
			if thread != "" {
				break
			}
			thread = known[id]
		}
		if thread == "" {
			thread = store.NewObjectID('T')
		}
		threads[i] = thread
		// The first thread recorded for an id stays.
		for _, id := range ids {
			if known[id] == "" {
				known[id] = thread
				record = append(record, id, thread)
			}
		}
	}
	for start := 0; start < len(record); start += 2 * batchRows {
		part := record[start:min(start+2*batchRows, len(record))]
		q := rowsQuery(`INSERT INTO thread_refs (message_id, thread_id) VALUES `, `(?, ?)`, len(part)/2, ` ON CONFLICT DO NOTHING`)
		if _, err := t.rowsQ(len(part)/2).ExecContext(t.ctx, q, part...); err != nil {
			return nil, fmt.Errorf("thread record: %w", err)
		}
	}
	return threads, nil
}
