package server

import (
	"context"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// fetchStates calls fn, in ascending UID order, with the state (UID,
// flags, modseq) of each existing message of uids: what FETCH needs when
// only UID, FLAGS and MODSEQ are asked for, the hot path of every client
// that resynchronizes flags. It never decodes message structure.
//
// The shared open mailbox (package openbox) answers from memory. The
// states are copied out first: fn writes to the client, which may block,
// and nothing may block under the Box's lock. Without a Box, a set
// covering a good part of the mailbox is read as one store snapshot (a
// single scan without the structure column), a small one through
// Messages, which reads only the UIDs named.
func (s *Session) fetchStates(ctx context.Context, uids store.UIDSet, fn func(m store.MessageState) error) error {
	n := uids.Len()
	if n == 0 {
		return nil
	}
	if s.box != nil {
		if err := s.box.Sync(ctx); err != nil {
			return err
		}
		states := make([]store.MessageState, 0, min(n, uint64(s.view.Exists())))
		s.box.Each(uids, func(m *store.MessageState) { states = append(states, *m) })
		for _, m := range states {
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	}
	id := s.view.Mailbox.ID
	if n*4 < uint64(s.view.Exists()) {
		return s.boxAcct().Messages(ctx, id, uids, func(m *store.MessageData) error { return fn(m.MessageState) })
	}
	snap, err := s.boxAcct().Snapshot(ctx, id)
	if err != nil {
		return err
	}
	// Both lists are ascending: walk the ranges alongside the messages.
	i := 0
	for _, m := range snap.Messages {
		for i < len(uids) && uids[i].Stop < m.UID {
			i++
		}
		if i == len(uids) {
			break
		}
		if m.UID >= uids[i].Start {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}
