package sqlitestore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV12FlagStamps adds the flag stamps of replication
// (store.FlagStamps): one row per message and flag whose value a change
// gave since the message arrived, in a mailbox that has been synced with
// a peer (history_from set). A flag without a row has stamp 0. A
// message's rows go with it: expunged, moved away by the rename of
// INBOX, or deleted with its mailbox. It also adds the stamps of
// metadata entries (store.MetadataEntry.Stamp): 0 stands for the entry's
// modseq, as for every entry written before; and what a deleted
// mailbox's tombstone saw (store.MailboxTombstone.Seen, EMAILIDs
// separated by spaces; NULL: not recorded, as for every tombstone written
// before).
const schemaV12FlagStamps = `
CREATE TABLE flag_stamps (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	flag       TEXT NOT NULL,
	stamp      INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid, flag)
) WITHOUT ROWID;
CREATE TRIGGER flag_stamps_message_deleted AFTER DELETE ON messages BEGIN
	DELETE FROM flag_stamps WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;
CREATE TRIGGER flag_stamps_message_moved AFTER UPDATE OF mailbox_id ON messages BEGIN
	DELETE FROM flag_stamps WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;
ALTER TABLE metadata ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailbox_tombstones ADD COLUMN seen TEXT;
`

// stampsIn returns the flag stamps of the messages of uids that have any.
func stampsIn(ctx context.Context, q querier, id store.MailboxID, uids store.UIDSet) (map[store.UID]store.FlagStamps, error) {
	var out map[store.UID]store.FlagStamps
	for _, g := range uids {
		rows, err := q.QueryContext(ctx, `SELECT uid, flag, stamp FROM flag_stamps
			WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`, id, g.Start, g.Stop)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u store.UID
			var flag string
			var stamp store.ModSeq
			if err := rows.Scan(&u, &flag, &stamp); err != nil {
				rows.Close()
				return nil, err
			}
			if out == nil {
				out = make(map[store.UID]store.FlagStamps)
			}
			if out[u] == nil {
				out[u] = make(store.FlagStamps)
			}
			out[u][flag] = stamp
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stampFlags gives the flags a client's change changed on message uid
// the change's modseq as their stamp, in a mailbox synced with a peer
// (history point from set); before that no copy exists elsewhere and
// every flag keeps stamp 0.
func (t *writeTx) stampFlags(id store.MailboxID, from store.ModSeq, uid store.UID, old, new store.Flags, ms store.ModSeq) error {
	if from == 0 {
		return nil
	}
	for _, f := range store.ChangedFlags(old, new) {
		if _, err := t.q.ExecContext(t.ctx, `INSERT INTO flag_stamps (mailbox_id, uid, flag, stamp) VALUES (?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET stamp = excluded.stamp`, id, uid, f, ms); err != nil {
			return fmt.Errorf("flag stamps: %w", err)
		}
	}
	return nil
}

// setStamps replaces the flag stamps of message uid with those a peer
// gave (store.Batch.Stamps).
func (t *writeTx) setStamps(id store.MailboxID, uid store.UID, st store.FlagStamps) error {
	if _, err := t.q.ExecContext(t.ctx, `DELETE FROM flag_stamps WHERE mailbox_id = ? AND uid = ?`, id, uid); err != nil {
		return fmt.Errorf("flag stamps: %w", err)
	}
	for f, s := range st {
		if s == 0 {
			continue
		}
		if _, err := t.q.ExecContext(t.ctx, `INSERT INTO flag_stamps (mailbox_id, uid, flag, stamp) VALUES (?, ?, ?, ?)`,
			id, uid, f, s); err != nil {
			return fmt.Errorf("flag stamps: %w", err)
		}
	}
	return nil
}
