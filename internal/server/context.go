package server

import (
	"slices"
	"strconv"

	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4): the CONTEXT hint
// (accepted, nothing to do: SORT keys are cached anyway) and UPDATE, which
// keeps a SEARCH's or SORT's result current for the client: at
// every sync point that changed something, each live context's search runs
// again (flags from memory, stored fields for the rest, as any SEARCH) and
// the difference with the result the client holds goes out as ESEARCH
// REMOVEFROM and ADDTO (4.3.2-4.3.4). Updates stop at CANCELUPDATE
// (cmd_cancelupdate.go) or when the mailbox is no longer selected.
//
// Contexts in sequence numbers (UPDATE on SEARCH or SORT) keep their
// result as UIDs too and write sequence numbers: a message of the result
// that is expunged gets its REMOVEFROM just before its EXPUNGE, numbered
// as that EXPUNGE is (contextsExpunge, from the view's update stream), and
// every other change after the sync's updates, EXISTS included, in the
// numbers they leave (4.3.3, 4.3.4). Under QRESYNC or UIDONLY, whose
// expunges are VANISHED UID sets, UPDATE in sequence numbers is refused
// with NOUPDATE (4.3.1 allows it): the numbers a REMOVEFROM would need
// before a VANISHED are those of a state the view no longer holds.
func init() {
	addCapability("CONTEXT=SEARCH", nil)
	addCapability("CONTEXT=SORT", nil)
}

// maxContexts is how many updating contexts one session may hold; past it
// UPDATE is refused with NOUPDATE (RFC 5267 4.3.1: at least one).
const maxContexts = 16

// updateContext is one search whose result the client keeps.
type updateContext struct {
	tag  string
	uid  bool       // UID SEARCH or UID SORT; else sequence numbers
	view *view.View // the selection it belongs to
	prog *search.Program
	sort []sortthread.Criterion // nil for SEARCH
	// result is what the client holds: UIDs in mailbox order for SEARCH,
	// in sort order for SORT, as of the view's modseq shown.
	result []store.UID
	shown  store.ModSeq
}

// contextTagInUse reports whether tag names a live updating context (a
// new UPDATE under it is BAD, RFC 5267 4.3).
func (s *Session) contextTagInUse(tag string) bool {
	for _, c := range s.contexts {
		if c.tag == tag && c.view == s.view {
			return true
		}
	}
	return false
}

// addContext registers an UPDATE, or refuses it with an untagged NO
// [NOUPDATE] (RFC 5267 4.3.1). result is the answer just given.
func (s *Session) addContext(tag string, uid bool, prog *search.Program, crit []sortthread.Criterion, result []store.UID) {
	s.dropStaleContexts()
	if !uid && (s.Enabled("QRESYNC") || s.uidOnly()) {
		s.Untagged().Raw("NO [NOUPDATE ").Quoted(tag).Raw("] Updates in sequence numbers are not kept under QRESYNC; use UID SEARCH or UID SORT").CRLF()
		return
	}
	if len(s.contexts) >= maxContexts {
		s.Untagged().Raw("NO [NOUPDATE ").Quoted(tag).Raw("] Too many contexts").CRLF()
		return
	}
	s.contexts = append(s.contexts, &updateContext{tag: tag, uid: uid, view: s.view, prog: prog, sort: crit, result: result, shown: s.view.ShownModSeq()})
}

// contextsExpunge writes, for each live context in sequence numbers whose
// result holds uid, the REMOVEFROM of the message about to be reported
// expunged at seq (RFC 5267 4.3.4: before the expunge, so the number is
// still valid), and drops it from the result.
func (s *Session) contextsExpunge(seq uint32, uid store.UID) {
	for _, c := range s.contexts {
		if c.uid || c.view != s.view {
			continue
		}
		i := slices.Index(c.result, uid)
		if i < 0 {
			continue
		}
		pos := 0
		if c.sort != nil {
			pos = i + 1
		}
		s.Untagged().Raw("ESEARCH (TAG ").Quoted(c.tag).Raw(") REMOVEFROM (").Raw(strconv.Itoa(pos)).SP().Number(seq).Raw(")").CRLF()
		c.result = slices.Delete(c.result, i, i+1)
	}
}

// cancelContexts ends the contexts named by tags; it reports whether each
// named one was live.
func (s *Session) cancelContexts(tags []string) bool {
	s.dropStaleContexts()
	all := true
	for _, t := range tags {
		i := slices.IndexFunc(s.contexts, func(c *updateContext) bool { return c.tag == t })
		if i < 0 {
			all = false
			continue
		}
		s.contexts = slices.Delete(s.contexts, i, i+1)
	}
	return all
}

// dropStaleContexts forgets contexts of an earlier selection.
func (s *Session) dropStaleContexts() {
	s.contexts = slices.DeleteFunc(s.contexts, func(c *updateContext) bool { return c.view != s.view || s.view == nil })
}

// updateContexts runs the search of each live context again, when the
// view moved since its result, and writes the changes of the result. A
// failing search leaves the context as it was, to be tried at the next
// sync point.
func (s *Session) updateContexts() {
	s.dropStaleContexts()
	for _, c := range s.contexts {
		if c.shown == s.view.ShownModSeq() {
			continue
		}
		c.shown = s.view.ShownModSeq()
		res, err := s.contextResult(c)
		if err != nil {
			continue
		}
		s.writeContextDiff(c, res)
		c.result = res
	}
}

// contextResult is a context's result now.
func (s *Session) contextResult(c *updateContext) ([]store.UID, error) {
	hits, err := s.searchMessages(c.prog, s.srv.cfg.Now())
	if err != nil {
		return nil, err
	}
	uids := make([]store.UID, len(hits))
	for i, h := range hits {
		uids[i] = h.uid
	}
	if c.sort == nil {
		return uids, nil
	}
	id := s.view.Mailbox.ID
	msgs, err := s.sortCache().Keys(uids, int(s.view.Exists()), func(missing store.UIDSet, add func(sortthread.Msg)) error {
		return s.loadSortKeys(s.ctx(), id, missing, add)
	})
	if err != nil {
		return nil, err
	}
	sorted := sortthread.Sort(msgs, c.sort)
	out := make([]store.UID, len(sorted))
	for i, m := range sorted {
		out[i] = m.UID
	}
	return out, nil
}

// writeContextDiff writes "* ESEARCH (TAG t) UID REMOVEFROM (...) ADDTO
// (...)" taking the client from c.result to res. For SEARCH the positions
// are 0 and the sets in mailbox order (4.3.3, 4.3.4). For SORT every
// removal names its position in the list as it stands after the removals
// before it, and every addition its position in the final list, in
// ascending order, so that applying them in order gives res: kept
// messages never change their relative order, since sort keys do not
// change.
func (s *Session) writeContextDiff(c *updateContext, res []store.UID) {
	now := make(map[store.UID]bool, len(res))
	for _, u := range res {
		now[u] = true
	}
	before := make(map[store.UID]bool, len(c.result))
	for _, u := range c.result {
		before[u] = true
	}
	var removed, added []posRun
	pos := 0
	for _, u := range c.result {
		if now[u] {
			pos++
			continue
		}
		removed = appendRun(removed, pos+1, u, false)
	}
	for i, u := range res {
		if !before[u] {
			added = appendRun(added, i+1, u, true)
		}
	}
	if len(removed) == 0 && len(added) == 0 {
		return
	}
	e := s.Untagged().Raw("ESEARCH (TAG ").Quoted(c.tag).Raw(")")
	if c.uid {
		e.Raw(" UID")
	}
	// num is how the client names a message: its UID, or its sequence
	// number now (every message of a diff is in the view: expunged ones
	// left the result at their EXPUNGE, contextsExpunge).
	num := func(u store.UID) uint32 {
		if c.uid {
			return uint32(u)
		}
		n, _ := s.view.Seq(u)
		return n
	}
	write := func(name string, runs []posRun) {
		if len(runs) == 0 {
			return
		}
		e.Raw(" " + name + " (")
		if c.sort == nil {
			var set store.UIDSet
			for _, r := range runs {
				for _, u := range r.uids {
					set.Add(store.UID(num(u)))
				}
			}
			e.Raw("0 ").UIDSet(set)
		} else {
			for i, r := range runs {
				if i > 0 {
					e.SP()
				}
				nums := make([]uint32, len(r.uids))
				for j, u := range r.uids {
					nums[j] = num(u)
				}
				e.Raw(strconv.Itoa(r.pos)).SP().Raw(orderedSet(nums))
			}
		}
		e.Special(')')
	}
	write("REMOVEFROM", removed)
	write("ADDTO", added)
	e.CRLF()
}

// posRun is a run of results at one context position.
type posRun struct {
	pos  int
	uids []store.UID
}

// appendRun adds u at position pos, joining the previous run when it
// continues it: for additions the next position, for removals the same
// position (each removal shifts the rest down).
func appendRun(runs []posRun, pos int, u store.UID, adding bool) []posRun {
	if n := len(runs); n > 0 {
		last := &runs[n-1]
		next := last.pos
		if adding {
			next = last.pos + len(last.uids)
		}
		if pos == next {
			last.uids = append(last.uids, u)
			return runs
		}
	}
	return append(runs, posRun{pos: pos, uids: []store.UID{u}})
}
