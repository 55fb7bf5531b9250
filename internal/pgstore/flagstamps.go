package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV15FlagStamps adds the flag stamps of replication
// (store.FlagStamps): one row per message and flag whose value a change
// gave since the message arrived, in a mailbox that has been synced with
// a peer (history_from set). A flag without a row has stamp 0. A
// message's rows go with it when it is expunged or its mailbox deleted;
// the rename of INBOX, which moves its messages to a new mailbox, drops
// them (TakeMessages). It also adds the stamps of metadata entries
// (store.MetadataEntry.Stamp): 0 stands for the entry's modseq, as for
// every entry written before; and what a deleted mailbox's tombstone saw
// (store.MailboxTombstone.Seen, EMAILIDs separated by spaces; NULL: not
// recorded, as for every tombstone written before).
const schemaV15FlagStamps = `
CREATE TABLE IF NOT EXISTS flag_stamps (
	mailbox_id bigint NOT NULL,
	uid        bigint NOT NULL,
	flag       text NOT NULL,
	stamp      bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid, flag),
	FOREIGN KEY (mailbox_id, uid) REFERENCES messages ON DELETE CASCADE ON UPDATE CASCADE
);
ALTER TABLE metadata ADD COLUMN IF NOT EXISTS stamp bigint NOT NULL DEFAULT 0;
ALTER TABLE mailbox_tombstones ADD COLUMN IF NOT EXISTS seen text;
`

// stampsIn returns the flag stamps of the messages of uids that have any.
func stampsIn(ctx context.Context, tx pgx.Tx, id store.MailboxID, uids store.UIDSet) (map[store.UID]store.FlagStamps, error) {
	lo, hi := uidBounds(uids)
	rows, err := tx.Query(ctx, `SELECT s.uid, s.flag, s.stamp FROM flag_stamps s
		JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON s.uid BETWEEN r.lo AND r.hi
		WHERE s.mailbox_id = $1`, id, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out map[store.UID]store.FlagStamps
	for rows.Next() {
		var u store.UID
		var flag string
		var stamp store.ModSeq
		if err := rows.Scan(&u, &flag, &stamp); err != nil {
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
	return out, rows.Err()
}

// flagStamper gathers the flags a client's change changes, to stamp them
// with its modseq in one statement; nothing is gathered in a mailbox not
// yet synced with a peer (history point from 0): no copy exists
// elsewhere, and every flag keeps stamp 0.
type flagStamper struct {
	from  store.ModSeq
	uids  []int64
	flags []string
}

func (s *flagStamper) add(uid store.UID, old, new store.Flags) {
	if s.from == 0 {
		return
	}
	for _, f := range store.ChangedFlags(old, new) {
		s.uids = append(s.uids, int64(uid))
		s.flags = append(s.flags, f)
	}
}

func (s *flagStamper) queue(batch *pgx.Batch, id store.MailboxID, ms store.ModSeq) {
	if len(s.uids) == 0 {
		return
	}
	batch.Queue(`INSERT INTO flag_stamps (mailbox_id, uid, flag, stamp)
		SELECT $1, u, f, $2 FROM unnest($3::bigint[], $4::text[]) AS x(u, f)
		ON CONFLICT (mailbox_id, uid, flag) DO UPDATE SET stamp = excluded.stamp`, id, ms, s.uids, s.flags)
}

// queueStamps queues the replacement of message uid's flag stamps with
// those a peer gave (store.Batch.Stamps).
func queueStamps(batch *pgx.Batch, id store.MailboxID, uid store.UID, st store.FlagStamps) {
	batch.Queue(`DELETE FROM flag_stamps WHERE mailbox_id = $1 AND uid = $2`, id, uid)
	var flags []string
	var stamps []int64
	for f, s := range st {
		if s != 0 {
			flags = append(flags, f)
			stamps = append(stamps, int64(s))
		}
	}
	if len(flags) > 0 {
		batch.Queue(`INSERT INTO flag_stamps (mailbox_id, uid, flag, stamp)
			SELECT $1, $2, f, s FROM unnest($3::text[], $4::bigint[]) AS x(f, s)`, id, uid, flags, stamps)
	}
}
