package view

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// UpdateKind says what an Update tells the client.
type UpdateKind int

const (
	// UpdateExpunge is "* n EXPUNGE" (Seq).
	UpdateExpunge UpdateKind = iota
	// UpdateVanished is "* VANISHED uids" under QRESYNC (RFC 7162 3.2.10).
	UpdateVanished
	// UpdateFlagList is "* FLAGS (...)" because new keywords appeared
	// (Keywords is the full keyword list to announce).
	UpdateFlagList
	// UpdateExists is "* n EXISTS" (Count).
	UpdateExists
	// UpdateFetch is "* n FETCH (FLAGS ...)" for a flag change (Seq, Msg).
	UpdateFetch
)

// Update is one untagged response a sync produced, in the order to send.
type Update struct {
	Kind     UpdateKind
	Seq      uint32
	UID      store.UID // UpdateExpunge: the expunged message's UID
	Count    uint32
	UIDs     store.UIDSet
	Msg      store.MessageState
	Keywords []string
}

// SyncOptions say what the current command allows and what the client
// enabled.
type SyncOptions struct {
	// AllowExpunge is false while the rules forbid expunge responses
	// (RFC 9051 7.4.1): the expunges are held until a later sync.
	AllowExpunge bool
	// QResync sends VANISHED instead of EXPUNGE (RFC 7162 3.2.10).
	QResync bool
}

// Sync asks the store what changed since the view's shown modseq and
// applies it.
func (v *View) Sync(ctx context.Context, acct store.Account, opts SyncOptions) ([]Update, error) {
	ch, err := acct.ChangesSince(ctx, v.Mailbox.ID, v.shown)
	if err != nil {
		return nil, fmt.Errorf("view: changes since %d: %w", v.shown, err)
	}
	return v.Apply(ch, opts), nil
}

// Apply advances the view over ch, which must be the changes since
// ShownModSeq, and returns what to tell the client. Held expunges from
// earlier syncs go out as soon as opts allows.
func (v *View) Apply(ch store.Changes, opts SyncOptions) []Update {
	var ups []Update
	if ch.Mailbox.HighestModSeq > v.shown {
		v.Mailbox = ch.Mailbox
		// Expunges: only UIDs the view holds matter; a message appended
		// and expunged between two syncs was never shown. When history was
		// pruned, Vanished is every UID missing now: among the view's UIDs
		// that is exactly those expunged since shown, so the view stays
		// exact either way.
		wasHolding := !v.pending.Empty()
		for _, r := range ch.Vanished {
			v.holdRange(r)
		}
		if !wasHolding && !v.pending.Empty() {
			v.heldAfter = v.shown
		}
	}
	if opts.AllowExpunge && !v.pending.Empty() {
		ups = v.releaseExpunges(ups, opts.QResync)
	}

	// New keywords must be announced in FLAGS before a FETCH uses them
	// (RFC 9051 7.3.5).
	var newKeywords bool
	for _, m := range ch.Changed {
		for _, k := range m.Flags.Keywords {
			if i, found := slices.BinarySearchFunc(v.keywords, k, compareFold); !found {
				v.keywords = slices.Insert(v.keywords, i, k)
				newKeywords = true
			}
		}
	}
	if newKeywords {
		ups = append(ups, Update{Kind: UpdateFlagList, Keywords: slices.Clone(v.keywords)})
	}

	// Changed is ascending by UID; messages above the highest UID the view
	// holds are new (UIDs only grow), the others changed flags. One pass
	// over the view's UIDs and the reported sets finds their sequence
	// numbers.
	hi := v.HighestUID()
	split := sort.Search(len(ch.Changed), func(i int) bool { return ch.Changed[i].UID > hi })
	var fetches []Update
	seqs := v.uids.Cursor()
	rc := v.reportedCursor()
	for _, m := range ch.Changed[:split] {
		if len(rc.sets) > 0 && m.ModSeq <= rc.told(m.UID) {
			continue // the command that made the change already said so
		}
		if i, ok := seqs.Find(m.UID); ok {
			fetches = append(fetches, Update{Kind: UpdateFetch, Seq: uint32(i + 1), Msg: m})
		}
	}
	grew := split < len(ch.Changed)
	for _, m := range ch.Changed[split:] {
		v.uids.Append(m.UID)
	}
	if grew {
		ups = append(ups, Update{Kind: UpdateExists, Count: uint32(v.uids.Len())})
	}
	ups = append(ups, fetches...)
	if ch.Mailbox.HighestModSeq > v.shown {
		v.shown = ch.Mailbox.HighestModSeq
	}
	v.reported = nil
	return ups
}

// holdRange marks the view's UIDs in r as expunged, not yet reported.
func (v *View) holdRange(r store.UIDRange) {
	i, _ := v.uids.Search(r.Start)
	v.uids.Scan(i, func(_ int, part []store.UID) bool {
		for _, u := range part {
			if u > r.Stop {
				return false
			}
			v.pending.Add(u)
		}
		return true
	})
}

// releaseExpunges reports every held expunge and drops the messages from
// the sequence map. It costs the held expunges and the chunks of the UID
// list that held them (internal/msglist), not the mailbox.
func (v *View) releaseExpunges(ups []Update, qresync bool) []Update {
	if qresync {
		ups = append(ups, Update{Kind: UpdateVanished, UIDs: v.pending})
		v.uids.Remove(v.pending, nil)
	} else {
		// Highest sequence number first: each EXPUNGE renumbers only the
		// messages after it, so the numbers sent stay valid as read.
		from := len(ups)
		v.uids.Remove(v.pending, func(i int, u store.UID) {
			ups = append(ups, Update{Kind: UpdateExpunge, Seq: uint32(i + 1), UID: u})
		})
		slices.Reverse(ups[from:])
	}
	v.pending = nil
	return ups
}
