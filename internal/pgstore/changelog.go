package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV11ChangeLog makes a flag change a heap-only update. Until version
// 10 every message's modseq was in the index messages (mailbox_id, modseq),
// so changing it rewrote the row's entries in every index of messages. Now
// "changed since" is answered from message_changes: per write, the UID
// ranges it changed at its modseq, and messages keep their modseq in an
// unindexed column. Pages are left half empty (fillfactor 50) so that the
// new version of every row a STORE 1:* rewrites fits on its own page.
// Inserts are logged by a trigger (appends, copies, replica appends all
// land there), updates by the statements that make them (setFlags,
// replication, the INBOX rename), which know their ranges without sorting.
// Entries lying wholly inside a span of UIDs a statement deleted (an
// expunge; the span may cross UIDs no message has) name no message any
// more and are dropped by a second trigger, so a mailbox that is filled and emptied does not keep
// an entry per message it ever had.
// Pages written before the upgrade stay full until rewritten (VACUUM FULL
// messages, at leisure); they are correct, only slower to update.
const schemaV11ChangeLog = `
CREATE TABLE message_changes (
	mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
	modseq     bigint NOT NULL,
	uid_start  bigint NOT NULL,
	uid_stop   bigint NOT NULL,
	PRIMARY KEY (mailbox_id, modseq, uid_start)
);
INSERT INTO message_changes (mailbox_id, modseq, uid_start, uid_stop)
	SELECT mailbox_id, modseq, uid, uid FROM messages;
DROP INDEX messages_modseq;
ALTER TABLE messages SET (fillfactor = 50);

CREATE FUNCTION tidemark_log_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	INSERT INTO message_changes (mailbox_id, modseq, uid_start, uid_stop)
	SELECT mailbox_id, modseq, min(uid), max(uid)
	FROM (SELECT mailbox_id, modseq, uid,
			uid - row_number() OVER (PARTITION BY mailbox_id, modseq ORDER BY uid) AS run
		FROM inserted) r
	GROUP BY mailbox_id, modseq, run
	ON CONFLICT (mailbox_id, modseq, uid_start)
		DO UPDATE SET uid_stop = greatest(message_changes.uid_stop, EXCLUDED.uid_stop);
	RETURN NULL;
END
$fn$;
CREATE TRIGGER messages_log_inserted AFTER INSERT ON messages
	REFERENCING NEW TABLE AS inserted
	FOR EACH STATEMENT EXECUTE FUNCTION tidemark_log_inserted();

CREATE INDEX message_changes_uid ON message_changes (mailbox_id, uid_start);
CREATE FUNCTION tidemark_forget_deleted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	WITH runs AS (
		SELECT mailbox_id, min(uid) AS lo, max(uid) AS hi
		FROM (SELECT mailbox_id, uid,
				uid - row_number() OVER (PARTITION BY mailbox_id ORDER BY uid) AS run
			FROM deleted) d
		GROUP BY mailbox_id, run),
	prev AS (
		SELECT mailbox_id, lo, hi, lag(hi) OVER (PARTITION BY mailbox_id ORDER BY lo) AS prev_hi FROM runs),
	breaks AS (
		SELECT mailbox_id, lo, hi, CASE WHEN prev_hi IS NULL OR EXISTS (SELECT 1 FROM messages m
			WHERE m.mailbox_id = prev.mailbox_id AND m.uid > prev.prev_hi AND m.uid < prev.lo) THEN 1 ELSE 0 END AS brk
		FROM prev)
	DELETE FROM message_changes c USING (
		SELECT mailbox_id, min(lo) AS lo, max(hi) AS hi
		FROM (SELECT mailbox_id, lo, hi, sum(brk) OVER (PARTITION BY mailbox_id ORDER BY lo) AS span FROM breaks) b
		GROUP BY mailbox_id, span) r
	WHERE c.mailbox_id = r.mailbox_id AND c.uid_start BETWEEN r.lo AND r.hi AND c.uid_stop <= r.hi;
	RETURN NULL;
END
$fn$;
CREATE TRIGGER messages_forget_deleted AFTER DELETE ON messages
	REFERENCING OLD TABLE AS deleted
	FOR EACH STATEMENT EXECUTE FUNCTION tidemark_forget_deleted();
`

// logChanges queues on batch the record that the messages in ranges lo[i]..
// hi[i] of mailbox id changed at modseq ms. A range may span UIDs no
// message has, never a message the write left alone (pruneChanges relies
// on it).
func logChanges(batch *pgx.Batch, id store.MailboxID, ms store.ModSeq, lo, hi []int64) {
	if len(lo) == 0 {
		return
	}
	batch.Queue(`INSERT INTO message_changes (mailbox_id, modseq, uid_start, uid_stop)
		SELECT $1, $2, lo, hi FROM unnest($3::bigint[], $4::bigint[]) AS r(lo, hi)
		ON CONFLICT (mailbox_id, modseq, uid_start)
			DO UPDATE SET uid_stop = greatest(message_changes.uid_stop, EXCLUDED.uid_stop)`, id, ms, lo, hi)
}

// maxPrunedRanges bounds the ranges pruneChanges compares with the log:
// the test is a nested loop, and entries left in place cost a little read
// time, never a wrong answer.
const maxPrunedRanges = 64

// pruneChanges queues on batch the removal of log entries older than ms
// that lie wholly inside ranges every message of which changed at ms: each
// of their messages is now found under ms, so they can only repeat it.
// This keeps the log near one entry per message however often flags
// change.
func pruneChanges(batch *pgx.Batch, id store.MailboxID, ms store.ModSeq, lo, hi []int64) {
	if len(lo) == 0 || len(lo) > maxPrunedRanges {
		return
	}
	batch.Queue(`DELETE FROM message_changes c USING unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		WHERE c.mailbox_id = $1 AND c.modseq < $4 AND c.uid_start >= r.lo AND c.uid_stop <= r.hi`, id, lo, hi, ms)
}

// changedRanges returns, as ranges, the UIDs of messages changed among
// cur (the messages of the mailbox in asked, ascending by UID); changed
// reports whether cur[i] changed. Two changed messages share a range when
// nothing between them was left alone: no message of cur, and no UID
// outside asked (where a message may exist that cur does not show).
func changedRanges(asked store.UIDSet, cur []store.MessageState, changed func(i int) bool) (lo, hi []int64) {
	i := 0
	return rangesOfChanges(asked, func() (store.UID, bool, bool) {
		if i == len(cur) {
			return 0, false, false
		}
		i++
		return cur[i-1].UID, changed(i - 1), true
	})
}

// rangesOfChanges is changedRanges over the messages next yields, in
// ascending UID order: each UID, whether it changed, and false once there
// are no more.
func rangesOfChanges(asked store.UIDSet, next func() (uid store.UID, changed, ok bool)) (lo, hi []int64) {
	var norm store.UIDSet
	for _, a := range asked {
		norm.AddRange(a.Start, a.Stop)
	}
	r := 0 // index in norm of the range holding the message
	open := false
	for {
		uid, changed, ok := next()
		if !ok {
			return lo, hi
		}
		for r < len(norm) && norm[r].Stop < uid {
			r++
			open = false
		}
		if r == len(norm) || !changed {
			open = false
			continue
		}
		if open {
			hi[len(hi)-1] = int64(uid)
			continue
		}
		lo = append(lo, int64(uid))
		hi = append(hi, int64(uid))
		open = true
	}
}

// changedUIDs returns the UIDs of mailbox id that may have changed after
// since, from the log: a superset of those that did (entries may cover
// UIDs expunged or changed again since), so the caller filters on each
// message's modseq.
func changedUIDs(ctx context.Context, tx pgx.Tx, id store.MailboxID, since store.ModSeq) (store.UIDSet, error) {
	rows, err := tx.Query(ctx, `SELECT uid_start, uid_stop FROM message_changes
		WHERE mailbox_id = $1 AND modseq > $2`, id, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var set store.UIDSet
	for rows.Next() {
		var lo, hi store.UID
		if err := rows.Scan(&lo, &hi); err != nil {
			return nil, err
		}
		set.AddRange(lo, hi)
	}
	return set, rows.Err()
}
