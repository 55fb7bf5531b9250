package sqlitestore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"

	"modernc.org/sqlite"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// keywordsFunc is the SQL function keywordsFunc(op, keywords, change) that
// computes a message's keywords after a +FLAGS (op 1) or -FLAGS (op 2)
// change, in stored form. It lets SetFlags run as set-based statements.
const keywordsFunc = "tidemark_keywords"

func init() {
	err := sqlite.RegisterDeterministicScalarFunction(keywordsFunc, 3,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			op, _ := args[0].(int64)
			old, _ := args[1].(string)
			change, _ := args[2].(string)
			f := store.Flags{Keywords: splitKeywords(old)}.Apply(store.FlagOp(op), store.Flags{Keywords: splitKeywords(change)})
			return strings.Join(f.Keywords, " "), nil
		})
	if err != nil {
		panic(err)
	}
}

// checkUIDs rejects sets containing UID 0 (RFC 9051 2.3.1.1: UIDs start
// at 1).
func checkUIDs(uids store.UIDSet) error {
	if len(uids) > 0 && uids[0].Start == 0 {
		return fmt.Errorf("UID 0: %w", store.ErrInvalidUID)
	}
	return nil
}

// SetFlags changes flags as one transaction with one modseq (RFC 7162
// 3.1.3). Per UID range it runs set-based statements: the UNCHANGEDSINCE
// failures, the messages already as requested, a count of the messages
// that change, and one UPDATE ... RETURNING over them. Nothing is
// allocated when nothing changes.
func (a *Account) SetFlags(ctx context.Context, id store.MailboxID, uids store.UIDSet, op store.FlagOp, flags store.Flags, unchangedSince store.ModSeq) (store.FlagResult, error) {
	var res store.FlagResult
	if err := checkUIDs(uids); err != nil {
		return res, err
	}
	sys, kw, err := normalizeFlags(flags)
	if err != nil {
		return res, err
	}
	var newFlags, newKeywords string
	switch op {
	case store.FlagsReplace:
		newFlags, newKeywords = "?1", "?2"
	case store.FlagsAdd:
		newFlags = "(flags | ?1)"
	case store.FlagsRemove:
		newFlags = "(flags & ~?1)"
	default:
		return res, fmt.Errorf("flag operation %d: %w", op, store.ErrCannot)
	}
	if newKeywords == "" {
		newKeywords = "keywords"
		if kw != "" {
			newKeywords = fmt.Sprintf("%s(%d, keywords, ?2)", keywordsFunc, op)
		}
	}
	// ?1 flags, ?2 keywords, ?3 mailbox, ?4 ?5 UID range, ?6 UNCHANGEDSINCE
	// (or the largest modseq when none was given), ?7 the new modseq.
	inSet := `mailbox_id = ?3 AND uid BETWEEN ?4 AND ?5 AND modseq <= ?6`
	changes := fmt.Sprintf(`%s != flags`, newFlags)
	if newKeywords != "keywords" {
		changes = fmt.Sprintf(`(%s != flags OR lower(%s) != lower(keywords))`, newFlags, newKeywords)
	}
	qModified := `SELECT uid FROM messages WHERE mailbox_id = ?3 AND uid BETWEEN ?4 AND ?5 AND modseq > ?6`
	qUnchanged := `SELECT uid, modseq, flags, keywords FROM messages WHERE ` + inSet + ` AND NOT ` + changes
	qBefore := `SELECT count(*), coalesce(sum(flags & 1 = 0), 0), coalesce(sum(flags & 8 != 0), 0) FROM messages WHERE ` + inSet + ` AND ` + changes
	qUpdate := fmt.Sprintf(`UPDATE messages SET flags = %s, keywords = %s, modseq = ?7 WHERE %s AND %s RETURNING uid, flags, keywords`,
		newFlags, newKeywords, inSet, changes)
	ucs := int64(unchangedSince)
	if unchangedSince == 0 {
		ucs = 1<<63 - 1
	}

	err = a.u.write(ctx, func(t *writeTx) error {
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		var d counterDelta
		kwCache := make(map[string][]string)
		for _, r := range uids {
			if r.Start >= mb.UIDNext {
				break
			}
			lo, hi := r.Start, min(r.Stop, mb.UIDNext-1)
			if unchangedSince != 0 {
				if err := t.collectUIDs(&res.Modified, qModified, sys, kw, id, lo, hi, ucs); err != nil {
					return err
				}
			}
			unchanged, err := t.queryStates(kwCache, qUnchanged, sys, kw, id, lo, hi, ucs)
			if err != nil {
				return err
			}
			res.Unchanged = append(res.Unchanged, unchanged...)
			var n, unseen, deleted int64
			if err := t.tx.QueryRowContext(t.ctx, qBefore, sys, kw, id, lo, hi, ucs).Scan(&n, &unseen, &deleted); err != nil {
				return fmt.Errorf("set flags: %w", err)
			}
			if n == 0 {
				continue
			}
			ms, err := t.modseq(id)
			if err != nil {
				return err
			}
			res.ModSeq = ms
			changed, err := t.queryStates(kwCache, qUpdate, sys, kw, id, lo, hi, ucs, ms)
			if err != nil {
				return err
			}
			d.unseen -= unseen
			d.deleted -= deleted
			for _, m := range changed {
				if m.Flags.System&store.FlagSeen == 0 {
					d.unseen++
				}
				if m.Flags.System&store.FlagDeleted != 0 {
					d.deleted++
				}
			}
			res.Changed = append(res.Changed, changed...)
		}
		return t.applyCounters(id, d)
	})
	if err != nil {
		return store.FlagResult{}, err
	}
	sortStates(res.Changed)
	sortStates(res.Unchanged)
	return res, nil
}

func (t *writeTx) collectUIDs(set *store.UIDSet, q string, args ...any) error {
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return err
		}
		set.Add(u)
	}
	return rows.Err()
}

// queryStates runs q, which yields uid, flags, keywords and, unless it is
// an UPDATE (then modseq is the last argument), modseq.
func (t *writeTx) queryStates(kwCache map[string][]string, q string, args ...any) ([]store.MessageState, error) {
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("set flags: %w", err)
	}
	defer rows.Close()
	update := strings.HasPrefix(q, "UPDATE")
	var out []store.MessageState
	var kw string
	for rows.Next() {
		var m store.MessageState
		if update {
			err = rows.Scan(&m.UID, &m.Flags.System, &kw)
			m.ModSeq = args[len(args)-1].(store.ModSeq)
		} else {
			err = rows.Scan(&m.UID, &m.ModSeq, &m.Flags.System, &kw)
		}
		if err != nil {
			return nil, err
		}
		m.Flags.Keywords = cachedKeywords(kwCache, kw)
		out = append(out, m)
	}
	return out, rows.Err()
}

// cachedKeywords splits a stored keyword list, sharing one capacity-capped
// slice between messages with the same keywords.
func cachedKeywords(cache map[string][]string, s string) []string {
	if s == "" {
		return nil
	}
	if k, ok := cache[s]; ok {
		return k
	}
	k := splitKeywords(s)
	k = k[:len(k):len(k)]
	cache[s] = k
	return k
}

func sortStates(ms []store.MessageState) {
	if !slices.IsSortedFunc(ms, cmpState) {
		slices.SortFunc(ms, cmpState)
	}
}

func cmpState(a, b store.MessageState) int {
	switch {
	case a.UID < b.UID:
		return -1
	case a.UID > b.UID:
		return 1
	}
	return 0
}
