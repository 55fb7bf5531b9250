package storetx

import (
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Expunger is a backend's statements for removing messages and keeping
// the tombstones that make VANISHED exact (RFC 7162 3.2.10).
type Expunger interface {
	Tx
	// RemoveMessages deletes the messages of uids in mailbox id that
	// carry every flag of need, fixes the counters, drops contents nothing
	// refers to any more and, for a replicated mailbox, notes the removed
	// messages' EMAILIDs with modseq 0. It returns the UIDs removed.
	RemoveMessages(id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.UIDSet, error)
	// StampExpungedIDs gives the EMAILIDs RemoveMessages noted for uids
	// the modseq of their expunge.
	StampExpungedIDs(id store.MailboxID, uids store.UIDSet, ms store.ModSeq) error
	// TakeTombstoneEndingAt deletes the tombstone of mailbox id whose
	// range ends at uid and returns its start; ok is false when there is
	// none.
	TakeTombstoneEndingAt(id store.MailboxID, uid store.UID) (start store.UID, ok bool, err error)
	// TakeTombstoneStartingAt deletes the tombstone of mailbox id whose
	// range starts at uid and returns its stop; ok is false when there is
	// none.
	TakeTombstoneStartingAt(id store.MailboxID, uid store.UID) (stop store.UID, ok bool, err error)
	// InsertTombstone records UIDs start to stop of mailbox id as expunged
	// at ms.
	InsertTombstone(id store.MailboxID, start, stop store.UID, ms store.ModSeq) error
	// ReplicaConfirmed returns the lowest modseq any replica of mailbox
	// guid confirmed having received; ok is false when no replica keeps
	// state for it.
	ReplicaConfirmed(guid string) (ms store.ModSeq, ok bool, err error)
	// DropTombstones forgets mailbox id's tombstones and noted EMAILIDs at
	// or below before and records before as its PrunedBelow.
	DropTombstones(id store.MailboxID, before store.ModSeq) error
}

// Expunge removes the messages of uids in mailbox id that exist and carry
// every flag of need (need \Deleted: as the transaction reads them, so a
// flag cleared by another session after the caller looked is honoured,
// RFC 9051 6.4.3), leaving tombstones at one new modseq. Removing nothing
// allocates no modseq.
func Expunge(t Expunger, id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.ExpungeResult, error) {
	if _, err := t.Mailbox(id); err != nil {
		return store.ExpungeResult{}, err
	}
	return Remove(t, id, uids, need)
}

// Remove removes the messages of uids in mailbox id that carry every flag
// of need and tombstones them at the mailbox's modseq of this
// transaction; removing nothing allocates no modseq. Expunge, MOVE's
// source half and REPLACE's old message all go this way.
func Remove(t Expunger, id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.ExpungeResult, error) {
	gone, err := t.RemoveMessages(id, uids, need)
	if err != nil || gone.Empty() {
		return store.ExpungeResult{}, err
	}
	return tombstone(t, id, gone)
}

// tombstone tombstones uids, already removed from mailbox id, at the
// mailbox's modseq of this transaction.
func tombstone(t Expunger, id store.MailboxID, gone store.UIDSet) (store.ExpungeResult, error) {
	ms, err := t.ModSeq(id)
	if err != nil {
		return store.ExpungeResult{}, err
	}
	if err := AddTombstones(t, id, gone, ms); err != nil {
		return store.ExpungeResult{}, err
	}
	return store.ExpungeResult{ModSeq: ms, UIDs: gone.UIDs()}, nil
}

// AddTombstones records uids as expunged at ms (the tombstones that make
// VANISHED exact, RFC 7162 3.2.10). uids is normalized, so each range is a
// run of consecutive UIDs. A range that touches an existing tombstone, of
// this expunge or of any earlier one, is merged with it into one row at
// ms, the higher modseq: a mailbox whose messages go one at a time keeps
// one row per run of expunged UIDs, not one per expunge. Reporting an
// expunge as later than it was is safe: a client resyncing from a modseq
// between the two is told again of UIDs it no longer has, which VANISHED
// allows (RFC 7162 3.2.10: UIDs the client does not have are ignored).
func AddTombstones(t Expunger, id store.MailboxID, uids store.UIDSet, ms store.ModSeq) error {
	if err := t.StampExpungedIDs(id, uids, ms); err != nil {
		return fmt.Errorf("expunged ids: %w", err)
	}
	for _, r := range uids {
		start, stop := r.Start, r.Stop
		if start > 1 {
			s, ok, err := t.TakeTombstoneEndingAt(id, start-1)
			if err != nil {
				return fmt.Errorf("tombstones: %w", err)
			}
			if ok {
				start = s
			}
		}
		if stop < store.MaxUID {
			s, ok, err := t.TakeTombstoneStartingAt(id, stop+1)
			if err != nil {
				return fmt.Errorf("tombstones: %w", err)
			}
			if ok {
				stop = s
			}
		}
		if err := t.InsertTombstone(id, start, stop, ms); err != nil {
			return fmt.Errorf("tombstones: %w", err)
		}
	}
	return nil
}

// Replace removes message uid of mailbox src and tombstones it, with
// insert adding the new message in between (IMAP REPLACE, RFC 8508): when
// the old message is gone, the call fails with store.ErrMessageGone before
// insert runs. When src is dst both changes share one modseq.
func Replace(t Expunger, src store.MailboxID, uid store.UID, insert func() (store.AppendResult, error)) (store.ReplaceResult, error) {
	var res store.ReplaceResult
	if _, err := t.Mailbox(src); err != nil {
		return res, err
	}
	gone, err := t.RemoveMessages(src, store.UIDSet{{Start: uid, Stop: uid}}, 0)
	if err != nil {
		return res, err
	}
	if gone.Empty() {
		return res, fmt.Errorf("replace UID %d: %w", uid, store.ErrMessageGone)
	}
	if res.Append, err = insert(); err != nil {
		return res, err
	}
	res.Expunge, err = tombstone(t, src, gone)
	return res, err
}

// PruneTombstones forgets mailbox id's tombstones at or below before and
// records it as the mailbox's PrunedBelow; ChangesSince from below it then
// answers with a superset (RFC 7162 3.2.5.2 lets the client narrow it). It
// changes no message, so it allocates no modseq.
func PruneTombstones(t Expunger, id store.MailboxID, before store.ModSeq) error {
	mb, err := t.Mailbox(id)
	if err != nil {
		return err
	}
	before = min(before, mb.HighestModSeq)
	// Never above what a replica still has to receive: a peer that
	// confirmed less needs the tombstones to tell an expunge here from a
	// message there (docs/replication.md).
	confirmed, ok, err := t.ReplicaConfirmed(mb.GUID)
	if err != nil {
		return err
	}
	if ok {
		before = min(before, confirmed)
	}
	if before <= mb.PrunedBelow {
		return nil
	}
	if err := t.DropTombstones(id, before); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}

// Copier is a backend's statement for COPY, MOVE's first half.
type Copier interface {
	Expunger
	// CopyMessages copies the messages of uids that exist in mailbox src
	// to dst, ascending, at UIDs dst.UIDNext, dst.UIDNext+1, ..., with
	// their flags and keywords and sharing their contents, at dst's
	// modseq of this transaction (ms); it raises dst's UIDNEXT and
	// counters. It returns the source UIDs copied; when there are none it
	// changes and allocates nothing. Too few UIDs left in dst fail with
	// CheckUIDRoom's error.
	CopyMessages(src store.MailboxID, uids store.UIDSet, dst Mailbox) (copied []store.UID, ms store.ModSeq, err error)
}

// Copy copies the messages of uids that exist in src to dst (RFC 9051
// 6.4.7), or with move set moves them (RFC 6851: the copies and the
// source's tombstones in one transaction). Copying nothing allocates no
// modseq.
func Copy(t Copier, src, dst store.MailboxID, uids store.UIDSet, move bool) (store.CopyResult, error) {
	var res store.CopyResult
	if _, err := t.Mailbox(src); err != nil {
		return res, err
	}
	dm, err := t.Mailbox(dst)
	if err != nil {
		return res, err
	}
	res.UIDValidity = dm.UIDValidity
	copied, ms, err := t.CopyMessages(src, uids, dm)
	if err != nil || len(copied) == 0 {
		return res, err
	}
	res.DstModSeq = ms
	var srcSet store.UIDSet
	for i, u := range copied {
		res.SrcUIDs = append(res.SrcUIDs, u)
		res.DstUIDs = append(res.DstUIDs, dm.UIDNext+store.UID(i))
		srcSet.Add(u)
	}
	if !move {
		return res, nil
	}
	gone, err := Remove(t, src, srcSet, 0)
	res.SrcModSeq = gone.ModSeq
	return res, err
}

// CheckUIDRoom fails when n new messages would take mailbox dst past the
// largest UID.
func CheckUIDRoom(dst Mailbox, n int) error {
	if uint64(dst.UIDNext)+uint64(n)-1 > uint64(store.MaxUID) {
		return fmt.Errorf("copy: UIDs exhausted in mailbox %q: %w", dst.Name, store.ErrCannot)
	}
	return nil
}
