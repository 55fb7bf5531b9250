package server

import (
	"context"
	"errors"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// sortIn is what SORT and THREAD work from: the keys of the messages the
// search matched, or the answer remembered for the same request on the
// same mailbox state.
type sortIn struct {
	msgs       []*sortthread.Msg // the matches, ascending by UID
	memo       string            // the remembered response data, when memoHit
	memoHit    bool
	withModSeq bool // the search had a MODSEQ key (RFC 7162 3.1.5)
	modseqs    map[store.UID]store.ModSeq

	cache  *sortthread.Cache
	key    string
	at     sortthread.MemoAt
	memoOK bool
}

// remember keeps the response data for the next identical request, when
// the request can be remembered.
func (in *sortIn) remember(v string) {
	if in.memoOK {
		in.cache.SetMemo(in.key, in.at, v)
	}
}

// maxModSeq is the highest modseq of msgs (RFC 7162 3.1.5).
func (in *sortIn) maxModSeq(msgs []*sortthread.Msg) store.ModSeq {
	var m store.ModSeq
	for _, x := range msgs {
		m = max(m, in.modseqs[x.UID])
	}
	return m
}

// sortCacheKey names the sortthread.Cache kept with an open mailbox.
type sortCacheKey struct{}

// sortCache is the key cache of the selected mailbox: kept with the shared
// open mailbox, so every session of the mailbox uses the same keys.
func (s *Session) sortCache() *sortthread.Cache {
	if s.box == nil {
		return sortthread.NewCache()
	}
	return s.box.Derived(sortCacheKey{}, func() any { return sortthread.NewCache() }).(*sortthread.Cache)
}

// sortInput runs the search of a SORT or THREAD and returns the keys of
// the matches. A request over the whole mailbox (search ALL) is answered
// from memory when the same request (memoKey, which names the numbering;
// "" never remembers) was answered at the same state: the Box's modseq and
// the highest UID and message count of the view, which then holds the
// same messages in the same order; sequence numbers only while the view
// holds back no expunge. in.memoHit is then set and in.msgs is not. Keys
// of messages already in the cache are never read again; only new
// messages are read from the store, by their structure parsed at delivery.
func (s *Session) sortInput(prog *search.Program, memoKey string, uid bool) (*sortIn, error) {
	if err := prog.Resolve(s.searchSetUIDs); err != nil {
		return nil, err
	}
	prog.SetRecent(s.recentUIDs())
	in := &sortIn{withModSeq: prog.HasModSeq(), cache: s.sortCache(), key: memoKey}
	if in.withModSeq {
		s.EnableCondstore() // RFC 7162 3.1
	}
	ctx := s.ctx()
	if memoKey != "" && s.box != nil && prog.Key.Op == search.OpAll && (uid || !s.view.Holding()) {
		if err := s.box.Sync(ctx); err != nil {
			return nil, err
		}
		in.memoOK = true
		if uid {
			in.key += " UID"
		}
		in.at = sortthread.MemoAt{ModSeq: s.box.Info().HighestModSeq, Highest: s.view.HighestUID(), Count: s.view.Exists()}
		if v, ok := in.cache.Memo(in.key, in.at); ok {
			in.memo, in.memoHit = v.(string), true
			return in, nil
		}
	}
	hits, err := s.searchMessages(prog, s.srv.cfg.Now())
	if err != nil {
		return nil, err
	}
	uids := make([]store.UID, len(hits))
	if in.withModSeq {
		in.modseqs = make(map[store.UID]store.ModSeq, len(hits))
	}
	for i, h := range hits {
		uids[i] = h.uid
		if in.withModSeq {
			in.modseqs[h.uid] = h.modseq
		}
	}
	id := s.view.Mailbox.ID
	in.msgs, err = in.cache.Keys(uids, int(s.view.Exists()), func(missing store.UIDSet, add func(sortthread.Msg)) error {
		return s.loadSortKeys(ctx, id, missing, add)
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// sortLoadSplit is the number of missing keys above which they are read by
// two store calls running at once (the store reads on a pool of
// connections), which shortens the first SORT of a large mailbox on a
// machine with a core to spare.
const sortLoadSplit = 8192

// loadSortKeys reads the keys of the messages of missing from the store:
// the keys stored at delivery when the store keeps them
// (store.KeysReader), else, and for messages stored before it kept them,
// computed from each message's stored structure.
func (s *Session) loadSortKeys(ctx context.Context, id store.MailboxID, missing store.UIDSet, add func(sortthread.Msg)) error {
	if kr, ok := s.boxAcct().(store.KeysReader); ok {
		var rest store.UIDSet
		err := kr.MessageKeys(ctx, id, missing, func(k *store.MessageKeys) error {
			if k.Keys != nil {
				if m, err := sortthread.DecodeKeys(k.Keys, k.UID, k.InternalDate, k.Size); err == nil {
					add(m)
					return nil
				}
			}
			rest.Add(k.UID)
			return nil
		})
		switch {
		case errors.Is(err, store.ErrCannot):
			// A wrapper over a store that keeps no keys: compute them all.
		case err != nil || rest.Empty():
			return err
		default:
			missing = rest
		}
	}
	return s.loadKeysFromStructures(ctx, id, missing, add)
}

// loadKeysFromStructures computes the keys of the messages of missing from
// their stored structures.
func (s *Session) loadKeysFromStructures(ctx context.Context, id store.MailboxID, missing store.UIDSet, add func(sortthread.Msg)) error {
	parts := []store.UIDSet{missing}
	if n := int(missing.Len()); n > sortLoadSplit {
		parts = splitUIDSet(missing, n/2)
	}
	var mu sync.Mutex
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() {
			errs[i] = s.boxAcct().Messages(ctx, id, part, func(md *store.MessageData) error {
				m := sortthread.FromMessage(md)
				mu.Lock()
				add(m)
				mu.Unlock()
				return nil
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// splitUIDSet cuts set after its first n UIDs.
func splitUIDSet(set store.UIDSet, n int) []store.UIDSet {
	var a, b store.UIDSet
	for _, r := range set {
		size := int(r.Stop-r.Start) + 1
		switch {
		case n <= 0:
			b = append(b, r)
		case size <= n:
			a = append(a, r)
			n -= size
		default:
			mid := r.Start + store.UID(n) - 1
			a = append(a, store.UIDRange{Start: r.Start, Stop: mid})
			b = append(b, store.UIDRange{Start: mid + 1, Stop: r.Stop})
			n = 0
		}
	}
	return []store.UIDSet{a, b}
}
