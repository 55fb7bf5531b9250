package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var (
	_ store.Checker  = (*Store)(nil)
	_ store.Repairer = (*Store)(nil)
)

// Check verifies a user's store in one snapshot: STATUS counters match the
// messages; every message's modseq is at most its mailbox's HIGHESTMODSEQ
// and its UID below UIDNEXT; tombstones lie below UIDNEXT and cover no
// live message; every contents row is referenced; every body a message
// names is stored whole (its parts add up to its size and hash to its id);
// every message's last change is in message_changes.
// It reads every body of the user.
func (s *Store) Check(ctx context.Context, user string) ([]store.Problem, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	var ps []store.Problem
	add := func(mb string, uid store.UID, format string, args ...any) {
		ps = append(ps, store.Problem{Mailbox: mb, UID: uid, What: fmt.Sprintf(format, args...)})
	}
	err = a.snapshotRead(ctx, func(tx pgx.Tx) error {
		type row struct {
			name                            string
			c, cu, cd, cs, mu, ms, ms2, tsu int64
			messages, unseen, deleted, size int64
			uidnext, hms                    int64
		}
		rows, err := tx.Query(ctx, `SELECT mb.name, mb.messages, mb.unseen, mb.deleted, mb.size, mb.uidnext, mb.highestmodseq,
			count(m.uid), count(m.uid) FILTER (WHERE m.flags & 1 = 0), count(m.uid) FILTER (WHERE m.flags & 8 <> 0),
			coalesce(sum(m.size), 0)::bigint, coalesce(max(m.uid), 0), coalesce(max(m.modseq), 0),
			(SELECT coalesce(max(t.modseq), 0) FROM tombstones t WHERE t.mailbox_id = mb.id),
			(SELECT coalesce(max(t.uid_stop), 0) FROM tombstones t WHERE t.mailbox_id = mb.id)
			FROM mailboxes mb LEFT JOIN messages m ON m.mailbox_id = mb.id
			WHERE mb.user_id = $1 GROUP BY mb.id ORDER BY mb.name`, a.id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.name, &r.messages, &r.unseen, &r.deleted, &r.size, &r.uidnext, &r.hms,
				&r.c, &r.cu, &r.cd, &r.cs, &r.mu, &r.ms, &r.ms2, &r.tsu); err != nil {
				rows.Close()
				return err
			}
			if r.c != r.messages || r.cu != r.unseen || r.cd != r.deleted || r.cs != r.size {
				add(r.name, 0, "counters %d/%d/%d/%d, messages say %d/%d/%d/%d (messages/unseen/deleted/size)",
					r.messages, r.unseen, r.deleted, r.size, r.c, r.cu, r.cd, r.cs)
			}
			if r.mu >= r.uidnext || r.tsu >= r.uidnext {
				add(r.name, 0, "UID %d at or above UIDNEXT %d", max(r.mu, r.tsu), r.uidnext)
			}
			if r.ms > r.hms || r.ms2 > r.hms {
				add(r.name, 0, "modseq %d above HIGHESTMODSEQ %d", max(r.ms, r.ms2), r.hms)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT mb.name, m.uid FROM messages m
			JOIN mailboxes mb ON mb.id = m.mailbox_id
			JOIN tombstones t ON t.mailbox_id = m.mailbox_id AND m.uid BETWEEN t.uid_start AND t.uid_stop
			WHERE mb.user_id = $1`, a.id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var uid store.UID
			if err := rows.Scan(&name, &uid); err != nil {
				rows.Close()
				return err
			}
			add(name, uid, "live message inside a tombstone")
		}
		rows.Close()
		rows, err = tx.Query(ctx, `SELECT mb.name, m.uid, m.modseq FROM messages m
			JOIN mailboxes mb ON mb.id = m.mailbox_id
			WHERE mb.user_id = $1 AND NOT EXISTS (`+unloggedChange+`)`, a.id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var uid store.UID
			var ms int64
			if err := rows.Scan(&name, &uid, &ms); err != nil {
				rows.Close()
				return err
			}
			add(name, uid, "change at modseq %d missing from message_changes", ms)
		}
		rows.Close()
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM contents c WHERE c.user_id = $1 AND c.orphaned_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.content_id = c.id)`, a.id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			add("", 0, "%d unreferenced contents rows", n)
		}
		rows, err = tx.Query(ctx, `SELECT DISTINCT b.id, b.size FROM contents c JOIN bodies b ON b.id = c.blob_id WHERE c.user_id = $1`, a.id)
		if err != nil {
			return err
		}
		type bodyRow struct {
			id   string
			size int64
		}
		bodies, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bodyRow, error) {
			var b bodyRow
			return b, r.Scan(&b.id, &b.size)
		})
		if err != nil {
			return err
		}
		for _, b := range bodies {
			h := sha256.New()
			n, err := io.Copy(h, &body{s: s, id: b.id, size: b.size, part: -1})
			if err != nil {
				add("", 0, "body %s: %v", b.id, err)
				continue
			}
			if got := hex.EncodeToString(h.Sum(nil)); n != b.size || got != b.id {
				add("", 0, "body %s: %d bytes hashing to %s", b.id, n, got)
			}
		}
		return nil
	})
	return ps, err
}

// Repair recomputes every mailbox's STATUS counters from its messages,
// raises UIDNEXT and HIGHESTMODSEQ to cover them (never lowering either)
// and logs each message's last change where message_changes lacks it,
// under the user's write lock. It returns what it changed.
func (s *Store) Repair(ctx context.Context, user string) ([]store.Problem, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	var fixed []store.Problem
	err = a.write(ctx, func(t *writeTx) error {
		fixed = nil
		rows, err := t.tx.Query(t.ctx, `UPDATE mailboxes mb SET messages = x.c, unseen = x.cu, deleted = x.cd, size = x.cs,
			uidnext = greatest(mb.uidnext, x.mu + 1), highestmodseq = greatest(mb.highestmodseq, x.ms)
			FROM (SELECT mb2.id, count(m.uid) AS c, count(m.uid) FILTER (WHERE m.flags & 1 = 0) AS cu,
				count(m.uid) FILTER (WHERE m.flags & 8 <> 0) AS cd, coalesce(sum(m.size), 0) AS cs,
				coalesce(max(m.uid), 0) AS mu, coalesce(max(m.modseq), 0) AS ms
				FROM mailboxes mb2 LEFT JOIN messages m ON m.mailbox_id = mb2.id
				WHERE mb2.user_id = $1 GROUP BY mb2.id) x
			WHERE mb.id = x.id AND (mb.messages, mb.unseen, mb.deleted, mb.size) IS DISTINCT FROM (x.c, x.cu, x.cd, x.cs)
				OR mb.id = x.id AND (mb.uidnext <= x.mu OR mb.highestmodseq < x.ms)
			RETURNING mb.name`, t.userID)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range names {
			fixed = append(fixed, store.Problem{Mailbox: n, What: "recomputed counters, UIDNEXT and HIGHESTMODSEQ"})
		}
		tag, err := t.tx.Exec(t.ctx, `INSERT INTO message_changes (mailbox_id, modseq, uid_start, uid_stop)
			SELECT m.mailbox_id, m.modseq, m.uid, m.uid FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
			WHERE mb.user_id = $1 AND NOT EXISTS (`+unloggedChange+`)
			ON CONFLICT (mailbox_id, modseq, uid_start) DO UPDATE SET uid_stop = greatest(message_changes.uid_stop, EXCLUDED.uid_stop)`, t.userID)
		if n := tag.RowsAffected(); err == nil && n > 0 {
			fixed = append(fixed, store.Problem{What: fmt.Sprintf("logged %d changes missing from message_changes", n)})
		}
		return err
	})
	return fixed, err
}

// unloggedChange is the subquery that finds the message_changes entry
// recording the last change of message m.
const unloggedChange = `SELECT 1 FROM message_changes c WHERE c.mailbox_id = m.mailbox_id
	AND c.modseq = m.modseq AND m.uid BETWEEN c.uid_start AND c.uid_stop`
