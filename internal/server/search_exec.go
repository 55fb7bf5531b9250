package server

import (
	"slices"
	"time"

	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// searchHit is one message a SEARCH matched.
type searchHit struct {
	uid    store.UID
	modseq store.ModSeq
}

// searchMessages evaluates prog over the messages of the view, cheapest
// data first (see package search): flags, UIDs and modseqs from the shared
// open mailbox in memory; the stored metadata of the messages still
// undecided, read in one pass over the store; and the bytes only of those
// that a BODY, TEXT or HEADER key still leaves undecided. Only messages the
// view holds are candidates (UIDs up to its highest): messages appended
// since the last sync are not reported before their EXISTS, and messages
// already expunged in the store no longer match (RFC 2180 4.1). The hits
// are ascending by UID.
func (s *Session) searchMessages(prog *search.Program, now time.Time) ([]searchHit, error) {
	v := s.view
	var universe store.UIDSet
	if hi := v.HighestUID(); hi > 0 {
		universe.AddRange(1, hi)
	}
	cand := prog.Narrow(universe)
	if cand.Empty() {
		return nil, nil
	}
	ctx := s.ctx()
	// String keys a text index can answer are answered by it once, for
	// the candidates (package search, text.go); without an index they are
	// evaluated per message below.
	err := prog.ResolveText(func(field store.TextField, needle string) (store.TextHits, error) {
		return store.SearchText(ctx, s.boxAcct(), v.Mailbox.ID, field, needle, cand)
	})
	if err != nil {
		return nil, err
	}
	var hits []searchHit
	undecided := cand
	if s.box != nil {
		if err := s.box.Sync(ctx); err != nil {
			return nil, err
		}
		undecided = nil
		var err error
		s.box.Each(cand, func(m *store.MessageState) {
			if err != nil {
				return
			}
			var r search.Result
			r, err = prog.Match(&search.Message{State: m}, now)
			switch r {
			case search.Yes:
				hits = append(hits, searchHit{m.UID, m.ModSeq})
			case search.Unknown:
				undecided.Add(m.UID)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if undecided.Empty() {
		return hits, nil
	}

	decidedInMemory := len(hits) > 0
	reporter := s.startProgress(uint64(v.CountIn(undecided))) // RFC 9585
	err = s.boxAcct().Messages(ctx, v.Mailbox.ID, undecided, func(md *store.MessageData) error {
		if err := reporter.step(); err != nil {
			return err
		}
		m := &search.Message{State: &md.MessageState, Data: md}
		r, err := prog.Match(m, now)
		if err != nil {
			return err
		}
		if r == search.Unknown {
			if r, err = s.matchBody(prog, m, now); err != nil {
				return err
			}
		}
		if r == search.Yes {
			hits = append(hits, searchHit{md.UID, md.ModSeq})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if decidedInMemory {
		slices.SortFunc(hits, func(a, b searchHit) int { return int(int64(a.uid) - int64(b.uid)) })
	}
	return hits, nil
}

// matchBody opens a message's bytes to decide the keys that need them.
func (s *Session) matchBody(prog *search.Program, m *search.Message, now time.Time) (search.Result, error) {
	blob, err := s.boxAcct().OpenBlob(s.ctx(), m.Data.BlobID)
	if err != nil {
		return search.No, err
	}
	defer blob.Close()
	m.Body = blob
	return prog.Match(m, now)
}
