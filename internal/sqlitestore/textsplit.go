package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Converting a version 15 text index (header and body in one table,
// text_index) to version 16's text_body and text_header without a window
// in which SEARCH scans: the old table keeps answering for the contents
// the conversion has not reached, and the background indexer moves them
// over in batches.
//
// meta.text_index_split_upto (X) and meta.text_index_split_done (S) are
// present while the conversion runs: contents with an id in (S, X] have
// their header and body in text_index only; every other indexed contents
// row has them in the new tables only (each batch writes the new rows and
// deletes the old ones in one transaction, with S). SearchText asks
// text_index too while the keys are present, with the column filter of
// the old format. text_index_fields and text_index_partial did not change
// format and are kept. Contents above X are the background indexer's
// backlog or indexed by their own appends, into the new tables.
const (
	textSplitUptoKey = "text_index_split_upto"
	textSplitDoneKey = "text_index_split_done"
)

// version15Columns is the old table's column filter of each field it
// answers while the conversion runs.
var version15Columns = map[store.TextField]string{
	store.TextBody:   "body",
	store.TextText:   "",
	store.TextHeader: "header",
}

// textSplit returns S and X, and whether the conversion runs.
func textSplit(ctx context.Context, q querier) (done, upto int64, splitting bool, err error) {
	var d, u sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key = '`+textSplitDoneKey+`'),
		(SELECT value FROM meta WHERE key = '`+textSplitUptoKey+`')`).Scan(&d, &u); err != nil {
		return 0, 0, false, fmt.Errorf("text index: %w", err)
	}
	return d.Int64, u.Int64, d.Valid && u.Valid, nil
}

// migrateV15TextSplit converts a version 15 database's text index: the
// new tables are created empty; a complete index is converted behind
// (above), an index never built (text_index_missing_upto not 0) stays
// Reindex's to build, its old rows dropped.
func migrateV15TextSplit(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, schemaV16TextSplit); err != nil {
		return err
	}
	var missing int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = 'text_index_missing_upto'), 1)`).Scan(&missing); err != nil {
		return err
	}
	// What the old table holds: every contents row up to the backlog
	// mark, or all of them.
	var upto int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = '`+textPendingKey+`'), (SELECT max(id) FROM contents), 0)`).Scan(&upto); err != nil {
		return err
	}
	if missing != 0 || upto == 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO text_index (text_index) VALUES ('delete-all')`)
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('`+textSplitUptoKey+`', ?), ('`+textSplitDoneKey+`', 0)`, upto)
	return err
}

// splitStep moves up to behindBatch contents of the conversion to the new
// tables, their text computed from the stored messages outside the write
// transaction. It reports whether any remain, and about how many.
func (u *userDB) splitStep(ctx context.Context) (more bool, behind int64, err error) {
	var batch textRun
	var done, upto int64
	var splitting bool
	err = u.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if done, upto, splitting, err = textSplit(ctx, tx); err != nil || !splitting {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, blob_id, structure FROM contents WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`, done, upto, behindBatch)
		if err != nil {
			return err
		}
		batch, err = u.readTextRun(ctx, rows)
		return err
	})
	if err != nil || !splitting {
		return false, 0, err
	}
	err = u.write(ctx, func(t *writeTx) error {
		now, _, still, err := textSplit(ctx, t.tx)
		if err != nil || !still || now != done {
			more = still // moved by Reindex meanwhile: read again
			return err
		}
		top := batch.top(upto)
		live, err := batch.live(ctx, t.tx)
		if err != nil {
			return err
		}
		if err := t.writeTextRows(live.ids, live.texts, false); err != nil {
			return err
		}
		if top < upto {
			more = true
			_, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = '`+textSplitDoneKey+`'`, top)
			return err
		}
		for _, q := range []string{
			`DELETE FROM meta WHERE key IN ('` + textSplitUptoKey + `', '` + textSplitDoneKey + `')`,
			`INSERT INTO text_index (text_index) VALUES ('delete-all')`,
		} {
			if _, err := t.tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("text index conversion: %w", err)
	}
	return more, upto - done - int64(len(batch.ids)), nil
}
