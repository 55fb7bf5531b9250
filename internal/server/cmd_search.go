package server

import (
	"errors"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// SEARCH and UID SEARCH (RFC 9051 6.4.4), with the result options of
// ESEARCH (RFC 4731), the saved result of SEARCHRES (RFC 5182), the MODSEQ
// key of CONDSTORE (RFC 7162 3.1.5) and the keys of WITHIN (RFC 5032).
// The criteria themselves are package search; this file reads the
// command, runs the evaluation (search_exec.go) and writes the answer.
func init() {
	register(
		&Command{Name: "SEARCH", States: StateSelected, UsesSeqs: true, Run: runSearch},
		&Command{Name: "SEARCH", UID: true, States: StateSelected, Run: runSearch},
	)
	addCapability("ESEARCH", nil)
	addCapability("SEARCHRES", nil)
	addCapability("WITHIN", nil)
}

// returnOpts are the SEARCH result options (RFC 9051 6.4.4, RFC 4731).
type returnOpts struct {
	given                      bool // RETURN was sent: the answer is ESEARCH
	min, max, all, count, save bool
	partial                    *partialRange // RFC 9394 (partial.go)
	update                     bool          // RFC 5267 4.3 (context.go)
}

// savedSearch is the search result variable (RFC 5182, RFC 9051
// 6.4.4.1). It holds UIDs, so expunged messages drop out of it by
// themselves, and belongs to the view it was made in: a new SELECT, or
// CLOSE/UNSELECT, makes a new view (or none) and so empties it.
type savedSearch struct {
	view *view.View
	uids store.UIDSet
}

// savedSearchUIDs is what "$" means now.
func (s *Session) savedSearchUIDs() store.UIDSet {
	if s.view == nil || s.searchRes.view != s.view {
		return nil
	}
	return s.searchRes.uids
}

func (s *Session) saveSearch(uids store.UIDSet) { s.searchRes = savedSearch{view: s.view, uids: uids} }

func runSearch(s *Session, c *Cmd) error {
	d := c.Dec
	uid := c.Name == "UID SEARCH"
	if err := d.SP(); err != nil {
		return err
	}
	opts, first, err := readReturnOpts(d)
	if err != nil {
		return err
	}
	prog, err := search.Parse(d, first)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	err = s.search(c, prog, opts, uid)
	if err != nil && opts.save && statusOf(err) == NO {
		s.saveSearch(nil) // RFC 9051 6.4.4.1: a failed SAVE empties "$"
	}
	return err
}

// readReturnOpts reads the optional "RETURN (...) SP" before the
// search-program. To tell it from a key it reads the first atom, which it
// hands back when it is not RETURN.
func readReturnOpts(d *wire.Decoder) (returnOpts, string, error) {
	var o returnOpts
	c, err := d.Peek()
	if err != nil {
		return o, "", err
	}
	if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return o, "", nil
	}
	a, err := d.Atom()
	if err != nil {
		return o, "", err
	}
	if !strings.EqualFold(a, "RETURN") {
		return o, a, nil
	}
	if err := d.SP(); err != nil {
		return o, "", err
	}
	o, err = readReturnList(d, "SEARCH", true)
	if err != nil {
		return o, "", err
	}
	return o, "", d.SP()
}

// readReturnList reads the "(...)" after RETURN: the result options SEARCH
// (RFC 9051 6.4.4, RFC 4731) and SORT (RFC 5267 3.1) share, with SAVE
// (RFC 5182) where save is set. cmd names the command in the answer to an
// unknown option. The options it returns are given.
func readReturnList(d *wire.Decoder, cmd string, save bool) (returnOpts, error) {
	o := returnOpts{given: true}
	err := d.List(func() error {
		opt, err := d.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(opt) {
		case "MIN":
			o.min = true
		case "MAX":
			o.max = true
		case "ALL":
			o.all = true
		case "COUNT":
			o.count = true
		case "SAVE":
			if !save {
				return Bad("CLIENTBUG", "Unknown "+cmd+" return option "+opt)
			}
			o.save = true
		case "CONTEXT":
			// RFC 5267 4.2: a hint, nothing to do (SORT keys are cached
			// anyway).
		case "UPDATE":
			o.update = true
		case "PARTIAL":
			if o.partial != nil {
				return Bad("CLIENTBUG", "PARTIAL given twice")
			}
			p, err := readPartialRange(d)
			if err != nil {
				return err
			}
			o.partial = &p
		default:
			// RFC 9051 6.4.4: unknown options MUST be rejected with BAD.
			return Bad("CLIENTBUG", "Unknown "+cmd+" return option "+opt)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	if o.all && o.partial != nil {
		return o, Bad("CLIENTBUG", "PARTIAL and ALL together") // RFC 9394 3.1
	}
	if !o.min && !o.max && !o.all && !o.count && !o.save && o.partial == nil {
		// "RETURN ()" means ALL (RFC 5267 3.3 for SORT); so does a RETURN
		// of only CONTEXT or UPDATE, which give the client the result its
		// updates apply to.
		o.all = true
	}
	return o, nil
}

// search runs a parsed program and writes the response.
func (s *Session) search(c *Cmd, prog *search.Program, opts returnOpts, uid bool) error {
	if prog.Charset != "" && s.Enabled("UTF8=ACCEPT") {
		// RFC 6855 3: the client said it speaks UTF-8; a charset label
		// conflicts with that.
		return Bad("CLIENTBUG", "CHARSET is not allowed after ENABLE UTF8=ACCEPT")
	}
	if opts.update && s.contextTagInUse(c.Tag) {
		return Bad("CLIENTBUG", "Tag reuse") // RFC 5267 4.3
	}
	if err := prog.CheckCharset(); err != nil {
		if errors.Is(err, search.ErrBadCharset) {
			return No("BADCHARSET ("+strings.Join(search.Charsets, " ")+")", "Unsupported charset "+prog.Charset)
		}
		return err
	}
	// Sets in a search are criteria: numbers past the end match nothing
	// (docs/architecture.md, "Sequence numbers past the end").
	if err := prog.Resolve(s.searchSetUIDs); err != nil {
		return err
	}
	prog.SetRecent(s.recentUIDs()) // RECENT, NEW, OLD (recent.go)
	withModSeq := prog.HasModSeq()
	if withModSeq {
		s.EnableCondstore() // RFC 7162 3.1
	}
	hits, err := s.searchMessages(prog, s.srv.cfg.Now())
	if err != nil {
		return err
	}
	// Numbers as the client wants them: UIDs, or the view's sequence
	// numbers. Matches are ascending by UID, hence by sequence number.
	nums := make([]uint32, 0, len(hits))
	kept := hits[:0]
	for _, h := range hits {
		n := uint32(h.uid)
		if !uid {
			seq, ok := s.view.Seq(h.uid)
			if !ok {
				continue
			}
			n = seq
		}
		nums = append(nums, n)
		kept = append(kept, h)
	}
	hits = kept

	if !opts.given {
		if !s.Rev2() {
			s.writeSearch(nums, hits, withModSeq)
			return s.enc.Err()
		}
		// RFC 9051 6.4.4: IMAP4rev2 always answers with ESEARCH, ALL by default.
		opts.all = true
	}
	if opts.save {
		s.saveSearch(savedResult(opts, hits))
		c.Text = c.Name + " completed, result saved"
		if !opts.min && !opts.max && !opts.all && !opts.count && opts.partial == nil {
			return nil // SAVE alone suppresses the ESEARCH response
		}
	}
	s.writeESearch(c.Tag, uid, opts, nums, hits, withModSeq)
	if opts.update {
		result := make([]store.UID, len(hits))
		for i, h := range hits {
			result[i] = h.uid
		}
		s.addContext(c.Tag, uid, prog, nil, result)
	}
	return s.enc.Err()
}

// savedResult is what SAVE stores (RFC 9051 6.4.4.1 table 4): with MIN
// and/or MAX but neither ALL nor COUNT, just those; otherwise every match.
func savedResult(opts returnOpts, hits []searchHit) store.UIDSet {
	var set store.UIDSet
	if len(hits) == 0 {
		return set
	}
	if opts.partial != nil && !opts.count {
		// RFC 9394 3.2 table 1: the PARTIAL results, with MIN and MAX.
		from, to := opts.partial.window(len(hits))
		for _, h := range hits[from:to] {
			set.Add(h.uid)
		}
		if opts.min {
			set.Add(hits[0].uid)
		}
		if opts.max {
			set.Add(hits[len(hits)-1].uid)
		}
		return set
	}
	if (opts.min || opts.max) && !opts.all && !opts.count {
		if opts.min {
			set.Add(hits[0].uid)
		}
		if opts.max {
			set.Add(hits[len(hits)-1].uid)
		}
		return set
	}
	for _, h := range hits {
		set.Add(h.uid)
	}
	return set
}

// writeSearch writes the IMAP4rev1 response, "* SEARCH 2 5 (MODSEQ m)"
// (RFC 3501 7.2.5, RFC 7162 3.1.6: MODSEQ only for a non-empty result).
func (s *Session) writeSearch(nums []uint32, hits []searchHit, withModSeq bool) {
	e := s.Untagged().Raw("SEARCH")
	for _, n := range nums {
		e.SP().Number(n)
	}
	if withModSeq && len(hits) > 0 {
		e.Raw(" (MODSEQ ").Number64(uint64(maxHitModSeq(hits))).Special(')')
	}
	e.CRLF()
}

// writeESearch writes the ESEARCH answer to SEARCH (RFC 9051 7.3.4),
// with the MODSEQ of RFC 4731 3.2: of the message(s) returned when only
// MIN and/or MAX are, else the highest of all hits.
func (s *Session) writeESearch(tag string, uid bool, opts returnOpts, nums []uint32, hits []searchHit, withModSeq bool) {
	s.writeESearchData(tag, uid, opts, nums, withModSeq, func(minMaxOnly bool) store.ModSeq {
		if !minMaxOnly {
			return maxHitModSeq(hits)
		}
		var m store.ModSeq
		if opts.min {
			m = hits[0].modseq
		}
		if opts.max {
			m = max(m, hits[len(hits)-1].modseq)
		}
		return m
	})
}

// writeESearchData writes "* ESEARCH (TAG "t") [UID] MIN a MAX b ALL set
// PARTIAL (r set) COUNT n [MODSEQ m]" for nums in the order of the answer:
// ascending for SEARCH (RFC 9051 7.3.4), the sort order for SORT (RFC 5267
// 3.1), so MIN and MAX are the first and last and a set has a range only
// for a run ascending by one (orderedSet). MODSEQ, when withModSeq and
// something matched, is modseq's, told whether only MIN and/or MAX are
// returned (RFC 4731 3.2, RFC 7162 3.1.6).
func (s *Session) writeESearchData(tag string, uid bool, opts returnOpts, nums []uint32, withModSeq bool, modseq func(minMaxOnly bool) store.ModSeq) {
	e := s.Untagged().Raw("ESEARCH (TAG ").Quoted(tag).Special(')')
	if uid {
		e.Raw(" UID")
	}
	if len(nums) > 0 {
		if opts.min {
			e.Raw(" MIN ").Number(nums[0])
		}
		if opts.max {
			e.Raw(" MAX ").Number(nums[len(nums)-1])
		}
		if opts.all {
			e.Raw(" ALL ").Raw(orderedSet(nums))
		}
	}
	if opts.partial != nil {
		// RFC 9394 3.1, RFC 5267 4.4: the requested range, then its
		// results or NIL.
		e.Raw(" PARTIAL (").Raw(opts.partial.String()).SP()
		if from, to := opts.partial.window(len(nums)); from < to {
			e.Raw(orderedSet(nums[from:to]))
		} else {
			e.NIL()
		}
		e.Special(')')
	}
	if opts.count {
		e.Raw(" COUNT ").Number(uint32(len(nums)))
	}
	if withModSeq && len(nums) > 0 {
		minMaxOnly := (opts.min || opts.max) && !opts.all && !opts.count
		e.Raw(" MODSEQ ").Number64(uint64(modseq(minMaxOnly)))
	}
	e.CRLF()
}

func maxHitModSeq(hits []searchHit) store.ModSeq {
	var m store.ModSeq
	for _, h := range hits {
		m = max(m, h.modseq)
	}
	return m
}

// searchSetUIDs resolves a sequence or UID set of a search key. Unlike
// FETCH, STORE and COPY, where a sequence number past the last message is
// BAD (RFC 9051 9: seq-number is a message that exists), a search key only
// narrows the answer: "SEARCH 1000" in a mailbox of ten matches nothing.
// UID sets already ignore UIDs above the highest (RFC 9051 6.4.8).
func (s *Session) searchSetUIDs(set wire.SeqSet, uid bool) (store.UIDSet, error) {
	if set.Saved || uid {
		return s.SeqSetUIDs(set, uid)
	}
	if s.uidOnly() {
		return nil, errUIDRequired() // RFC 9586 3
	}
	return s.view.SearchSeqSetUIDs(set), nil
}
