package sqlitestore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// SetFlags changes flags as one transaction with one modseq (RFC 7162
// 3.1.3). It loads the chunks holding the UIDs, applies the change to
// their entries in memory (the UNCHANGEDSINCE test included, inside the
// transaction), and writes back only the chunks where something changed.
// Each distinct keyword set is transformed once. Nothing is allocated when
// nothing changes.
func (a *Account) SetFlags(ctx context.Context, id store.MailboxID, uids store.UIDSet, op store.FlagOp, flags store.Flags, unchangedSince store.ModSeq) (store.FlagResult, error) {
	var res store.FlagResult
	if err := store.CheckUIDs(uids); err != nil {
		return res, err
	}
	if op != store.FlagsReplace && op != store.FlagsAdd && op != store.FlagsRemove {
		return res, fmt.Errorf("flag operation %d: %w", op, store.ErrCannot)
	}
	sys, kw, err := normalizeFlags(flags)
	if err != nil {
		return res, err
	}
	change := store.Flags{System: sys, Keywords: splitKeywords(kw)}
	progress := store.TrackProgress(ctx)
	err = a.u.write(ctx, func(t *writeTx) error {
		res = store.FlagResult{}
		progress.Restart()
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		uids := uids.Below(mb.UIDNext)
		cs, err := loadChunks(t, id, uids)
		if err != nil {
			return err
		}
		fc := flagChange{t: t, op: op, change: change, newKW: make(map[kwSetID]newKeywords)}
		kwr := t.resolver()
		n := 0
		for _, c := range cs {
			n += len(c.entries)
		}
		// At most every entry loaded changes: one allocation, not a
		// doubling series, for a STORE over a whole mailbox.
		res.Changed = make([]store.MessageState, 0, n)
		var d counterDelta
		var ms store.ModSeq
		log := newFlagLog(mb.historyFrom, 0, uids)
		in := uidCursor{set: uids}
		for _, c := range cs {
			for i := range c.entries {
				e := &c.entries[i]
				log.step()
				if !in.contains(e.uid) {
					continue
				}
				progress.Step()
				if unchangedSince != 0 && e.modseq > unchangedSince {
					res.Modified.Add(e.uid)
					continue
				}
				nf := fc.system(e.flags)
				nkw, err := fc.keywords(e.kw)
				if err != nil {
					return err
				}
				if nf == e.flags && nkw.sameFold {
					kws, err := kwr.keywords(e.kw)
					if err != nil {
						return err
					}
					res.Unchanged = append(res.Unchanged, store.MessageState{UID: e.uid, ModSeq: e.modseq, Flags: store.Flags{System: e.flags, Keywords: kws}})
					continue
				}
				if ms == 0 {
					if ms, err = t.modseq(id); err != nil {
						return err
					}
					res.ModSeq = ms
					log.replaced = ms
				}
				if err := log.add(kwr, *e, nf, nkw.id); err != nil {
					return err
				}
				kws, err := kwr.keywords(nkw.id)
				if err != nil {
					return err
				}
				d.add(e.flags, 0, -1)
				d.add(nf, 0, 1)
				e.flags, e.kw, e.modseq = nf, nkw.id, ms
				c.dirty = true
				res.Changed = append(res.Changed, store.MessageState{UID: e.uid, ModSeq: ms, Flags: store.Flags{System: nf, Keywords: kws}})
			}
		}
		if err := log.write(t, id); err != nil {
			return err
		}
		if err := t.saveChunks(cs); err != nil {
			return err
		}
		return t.applyCounters(id, d)
	})
	if err != nil {
		return store.FlagResult{}, err
	}
	if len(res.Changed) == 0 {
		res.Changed = nil
	}
	return res, nil
}

// flagChange applies one STORE to entries.
type flagChange struct {
	t      *writeTx
	op     store.FlagOp
	change store.Flags
	newKW  map[kwSetID]newKeywords // old keyword set → new, computed once each
}

// newKeywords is what a keyword set becomes.
type newKeywords struct {
	id kwSetID // the new set, spelled as the operation leaves it
	// sameFold is set when the new set equals the old up to case: a
	// message whose system flags do not change either is unchanged and
	// keeps its old spelling (RFC 9051 2.3.2: keywords are
	// case-insensitive).
	sameFold bool
}

func (f *flagChange) system(old store.SystemFlags) store.SystemFlags {
	switch f.op {
	case store.FlagsAdd:
		return old | f.change.System
	case store.FlagsRemove:
		return old &^ f.change.System
	}
	return f.change.System
}

// keywords returns what the keyword set old becomes.
func (f *flagChange) keywords(old kwSetID) (newKeywords, error) {
	if f.op != store.FlagsReplace && len(f.change.Keywords) == 0 {
		return newKeywords{id: old, sameFold: true}, nil
	}
	if n, ok := f.newKW[old]; ok {
		return n, nil
	}
	oldKW, err := f.t.keywords(old)
	if err != nil {
		return newKeywords{}, err
	}
	newKW := store.Flags{Keywords: oldKW}.Apply(f.op, f.change).Keywords
	n := newKeywords{id: old, sameFold: slices.EqualFunc(newKW, oldKW, strings.EqualFold)}
	if !slices.Equal(newKW, oldKW) {
		if n.id, err = f.t.kwSetFor(keywordText(newKW)); err != nil {
			return newKeywords{}, err
		}
	}
	f.newKW[old] = n
	return n, nil
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

// keepHistory records the flags entry e has before a change at modseq
// replaced, when a replica may still need them (flagLog.keep).
func (t *writeTx) keepHistory(id store.MailboxID, from store.ModSeq, e entry, replaced store.ModSeq) error {
	l := newFlagLog(from, replaced, nil)
	l.keep(e)
	return l.write(t, id)
}

// uidCursor answers whether UIDs asked in ascending order are in a set by
// walking its ranges alongside, rather than a binary search per UID: a
// STORE 1:* over a mailbox with scattered expunges asks it of every
// message, against thousands of ranges.
type uidCursor struct {
	set  store.UIDSet
	i    int
	last store.UID
}

func (c *uidCursor) contains(u store.UID) bool {
	if u < c.last {
		c.i = 0 // not ascending after all: start over
	}
	c.last = u
	for c.i < len(c.set) && c.set[c.i].Stop < u {
		c.i++
	}
	return c.i < len(c.set) && c.set[c.i].Start <= u
}
