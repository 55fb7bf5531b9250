package replica

import (
	"context"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// deletedSeen settles a mailbox side X holds that the other side deleted,
// when the tombstone records the messages the deleting side had seen
// (store.MailboxTombstone.Seen: those it held and those it knew expunged
// there, with those of every replica the delete went through). A message
// the delete saw goes, and so does one below the UIDNEXT the two last
// converged at; any other was written where the delete had not reached,
// and stays, with the mailbox. That holds for a replica that never synced
// the mailbox with the deleting one (three or more replicas), where the
// point of convergence alone would keep every message and so undo the
// delete. With no message left the mailbox goes, its tombstone here
// adding what this side saw, so the delete travels on complete.
//
// A mailbox created again after the delete (kept by this rule on another
// replica) holds only messages no deleting replica had seen, unless a
// client expunged one of them on a replica that then applied the delete
// (its tombstone names what it expunged): so the rule applies to it too,
// and such a message goes instead of coming back with the mailbox.
func (p *pair) deletedSeen(ctx context.Context, x User, m store.MailboxInfo, tomb store.MailboxTombstone,
	psX store.PeerState, t *target, del *[]store.AccountOp) (*target, error) {
	seen := make(map[string]bool, len(tomb.Seen))
	for _, id := range tomb.Seen {
		seen[id] = true
	}
	u0 := max(psX.UIDNext, 1)
	msgs, err := x.Lookup(ctx, m.GUID, store.UIDSet{{Start: 1, Stop: store.MaxUID}})
	if err != nil {
		return nil, err
	}
	var gone store.UIDSet
	for _, msg := range msgs {
		if msg.UID < u0 || seen[msg.EmailID] {
			gone.Add(msg.UID)
		}
	}
	if uint64(len(msgs)) == gone.Len() {
		*del = append(*del, store.AccountOp{Kind: store.OpDelete, GUID: m.GUID, Name: m.Name, Stamp: tomb.Changed, Seen: tomb.Seen})
		return nil, nil
	}
	if !gone.Empty() {
		// Expunged here, so that the replicas still holding them learn
		// it from this side's tombstones, which name them.
		if _, err := x.Apply(ctx, m.GUID, Batch{Expunges: []store.Expunged{{UIDs: gone}}}); err != nil {
			return nil, err
		}
	}
	// Created again on the deleting side, which must not reuse modseqs X
	// recorded from it; the later stamp wins over the delete.
	t.hms = psX.Applied
	t.stamp = max(m.Changed, tomb.Changed) + 1
	return t, nil
}

// deletedSeenOf maps each mailbox GUID an account state lists as deleted
// with a record of what its delete saw to that record: for a mailbox
// created again since, the messages that must stay gone from it.
func deletedSeenOf(st store.AccountState) map[string][]string {
	out := make(map[string][]string)
	for _, d := range st.Deleted {
		if d.Seen != nil {
			out[d.GUID] = d.Seen
		}
	}
	return out
}

// forgetSeen counts the messages a delete of this side's mailbox saw as
// expunged here: in a mailbox created again after that delete, a copy
// another replica still holds goes (as the expunge of a message under
// another UID does) instead of coming back.
func (s *side) forgetSeen(ids []string) {
	for _, id := range ids {
		s.gone[id] = true
	}
}
