package sqlitestore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

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

// flagLog gathers what a client's change of flags records for
// replication, in a mailbox synced with a peer (history point from set),
// to write it with a few statements for the whole change instead of one
// per message and flag: the flags each message had at the history point
// (flag_history), and the change's modseq as the stamp of each flag it
// changed (flag_stamps). Before the mailbox is first synced no copy exists
// elsewhere: nothing is recorded, and every flag keeps stamp 0.
type flagLog struct {
	from     store.ModSeq
	replaced store.ModSeq // the change's modseq
	// asked is the set of UIDs the change was asked for: every message in
	// it is passed to step, so a run of stamped UIDs may span UIDs in it
	// that no message has.
	asked store.UIDSet
	// history holds the messages whose replaced state is kept, grouped
	// by that state: a STORE over many messages finds few distinct ones,
	// so the statement reads each once rather than once per message.
	history      map[entryState][]store.UID
	historyOrder []entryState
	stamped      map[string]*stampedFlag // by flag name (store.FlagName)
	// changed caches store.ChangedFlags per transition: a STORE over many
	// messages makes few distinct ones.
	changed map[flagTransition][]string
	steps   int // messages passed so far
}

// stampedFlag is where a change changed one flag.
type stampedFlag struct {
	uids []store.UID // ascending
	// runs cut uids into runs of messages that follow one another in the
	// mailbox: no other message has a UID inside a run.
	runs     []uidRun
	lastStep int // flagLog.steps when the last UID was added
}

type uidRun struct {
	lo, hi store.UID
	n      int
}

// entryState is an entry's state but its UID.
type entryState struct {
	modseq store.ModSeq
	flags  store.SystemFlags
	kw     kwSetID
}

type flagTransition struct {
	oldFlags, newFlags store.SystemFlags
	oldKW, newKW       kwSetID
}

// newFlagLog returns the log of a change at modseq replaced (0: set it
// before write) over the messages of asked, in a mailbox whose history
// point is from.
func newFlagLog(from, replaced store.ModSeq, asked store.UIDSet) *flagLog {
	return &flagLog{from: from, replaced: replaced, asked: asked}
}

// step passes the next message of the mailbox in UID order, changed or
// not: a message that does not change a flag ends that flag's run.
func (l *flagLog) step() { l.steps++ }

// add records that entry e, the message last passed to step, changes to
// flags nf with keywords nkw.
func (l *flagLog) add(kwr *kwResolver, e entry, nf store.SystemFlags, nkw kwSetID) error {
	if l.from == 0 {
		return nil
	}
	l.keep(e)
	tr := flagTransition{e.flags, nf, e.kw, nkw}
	names, ok := l.changed[tr]
	if !ok {
		oldKW, err := kwr.keywords(e.kw)
		if err != nil {
			return err
		}
		newKW, err := kwr.keywords(nkw)
		if err != nil {
			return err
		}
		names = store.ChangedFlags(store.Flags{System: e.flags, Keywords: oldKW}, store.Flags{System: nf, Keywords: newKW})
		if l.changed == nil {
			l.changed = make(map[flagTransition][]string)
			l.stamped = make(map[string]*stampedFlag)
		}
		l.changed[tr] = names
	}
	for _, n := range names {
		f := l.stamped[n]
		if f == nil {
			f = &stampedFlag{}
			l.stamped[n] = f
		}
		f.uids = append(f.uids, e.uid)
		// The run goes on when the message passed just before was in it
		// and every UID between the two was asked for (so was passed: a
		// message of a chunk not loaded may lie between two others).
		if k := len(f.runs) - 1; k >= 0 && f.lastStep == l.steps-1 && e.uid > f.runs[k].hi && covers(l.asked, f.runs[k].hi, e.uid) {
			f.runs[k].hi = e.uid
			f.runs[k].n++
		} else {
			f.runs = append(f.runs, uidRun{e.uid, e.uid, 1})
		}
		f.lastStep = l.steps
	}
	return nil
}

// covers reports whether s holds every UID from lo to hi.
func covers(s store.UIDSet, lo, hi store.UID) bool {
	i, found := slices.BinarySearchFunc(s, lo, func(r store.UIDRange, u store.UID) int {
		switch {
		case r.Stop < u:
			return -1
		case r.Start > u:
			return 1
		}
		return 0
	})
	return found && s[i].Stop >= hi
}

// keep records the flags entry e has before the change, when a replica
// may still need them: e's modseq is at or below the history point (a
// peer's sync point), so they are the message's state at that point
// (store.Replica.FlagsAt).
func (l *flagLog) keep(e entry) {
	if l.from == 0 || e.modseq > l.from {
		return
	}
	k := entryState{e.modseq, e.flags, e.kw}
	if l.history == nil {
		l.history = make(map[entryState][]store.UID)
	}
	if _, ok := l.history[k]; !ok {
		l.historyOrder = append(l.historyOrder, k)
	}
	l.history[k] = append(l.history[k], e.uid)
}

// appendUIDs appends uids to b as a JSON array.
func appendUIDs(b []byte, uids []store.UID) []byte {
	b = append(b, '[')
	for i, u := range uids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(u), 10)
	}
	return append(b, ']')
}

// minDeletedRun is the length from which a run of stamped messages has its
// old stamps deleted by one range DELETE before the insertion: for a
// STORE over 100,000 messages that took about half the time of letting
// the insertion replace each row (ON CONFLICT DO UPDATE, measured), while
// for short runs the statement per run costs more than it saves.
const minDeletedRun = 16

// write writes what l gathered for mailbox id. The rows come out of
// json_each in the order they were added, ascending by UID for each flag,
// so each insertion walks its table's primary key in order.
func (l *flagLog) write(t *writeTx, id store.MailboxID) error {
	if len(l.history) > 0 {
		// [[modseq, flags, keywords, [uid, ...]], ...]
		groups := []byte{'['}
		for i, k := range l.historyOrder {
			if i > 0 {
				groups = append(groups, ',')
			}
			groups = fmt.Appendf(groups, "[%d,%d,%d,", k.modseq, k.flags, k.kw)
			groups = appendUIDs(groups, l.history[k])
			groups = append(groups, ']')
		}
		// The groups are read once (MATERIALIZED): in the join, each
		// message's row would read its group's fields again. WHERE true:
		// without it SQLite would read ON CONFLICT as a join clause of the
		// SELECT.
		if _, err := t.q.ExecContext(t.ctx, `WITH g(modseq, flags, keywords, uids) AS MATERIALIZED (
				SELECT value->>0, value->>1, value->>2, value->3 FROM json_each(?1))
			INSERT INTO flag_history (mailbox_id, uid, modseq, replaced, flags, keywords)
			SELECT ?2, u.value, g.modseq, ?3, g.flags, g.keywords FROM g, json_each(g.uids) u WHERE true
			ON CONFLICT DO NOTHING`, string(append(groups, ']')), id, l.replaced); err != nil {
			return fmt.Errorf("flag history: %w", err)
		}
		clear(l.history)
		l.historyOrder = l.historyOrder[:0]
	}
	if len(l.stamped) == 0 {
		return nil
	}
	// One JSON object {flag: [uid, ...], ...} for every flag at once.
	all := []byte{'{'}
	for i, n := range slices.Sorted(maps.Keys(l.stamped)) {
		f := l.stamped[n]
		for _, r := range f.runs {
			if r.n < minDeletedRun {
				continue
			}
			if _, err := t.q.ExecContext(t.ctx, `DELETE FROM flag_stamps WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND flag = ?`,
				id, r.lo, r.hi, n); err != nil {
				return fmt.Errorf("flag stamps: %w", err)
			}
		}
		if i > 0 {
			all = append(all, ',')
		}
		name, _ := json.Marshal(n) // a string always encodes
		all = appendUIDs(append(append(all, name...), ':'), f.uids)
	}
	if _, err := t.q.ExecContext(t.ctx, `INSERT INTO flag_stamps (mailbox_id, uid, flag, stamp)
		SELECT ?, u.value, f.key, ? FROM json_each(?) f, json_each(f.value) u WHERE true
		ON CONFLICT DO UPDATE SET stamp = excluded.stamp`, id, l.replaced, string(append(all, '}'))); err != nil {
		return fmt.Errorf("flag stamps: %w", err)
	}
	clear(l.stamped)
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
