package server

import (
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/search"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// SORT and UID SORT (RFC 5256), with the DISPLAYFROM and DISPLAYTO
// criteria of SORT=DISPLAY (RFC 5957), the result options of ESORT
// (RFC 5267 3) and MODSEQ in the result (RFC 7162 3.1.5, 3.1.6). The
// ordering is package sortthread; the keys come from the per-mailbox
// cache kept with the open mailbox (sortKeys), so a second SORT of an
// unchanged mailbox reads nothing from the store.
func init() {
	register(
		&Command{Name: "SORT", States: StateSelected, UsesSeqs: true, Run: runSort},
		&Command{Name: "SORT", UID: true, States: StateSelected, Run: runSort},
	)
	addCapability("SORT", nil)
	addCapability("SORT=DISPLAY", nil)
	addCapability("ESORT", nil)
}

func runSort(s *Session, c *Cmd) error {
	d := c.Dec
	uid := c.Name == "UID SORT"
	if err := d.SP(); err != nil {
		return err
	}
	opts, err := readSortReturn(d)
	if err != nil {
		return err
	}
	var crit []sortthread.Criterion
	err = d.List(func() error {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		var cr sortthread.Criterion
		if strings.EqualFold(a, "REVERSE") {
			cr.Reverse = true
			if err := d.SP(); err != nil {
				return err
			}
			if a, err = d.Atom(); err != nil {
				return err
			}
		}
		k, ok := sortthread.KeyByName[strings.ToUpper(a)]
		if !ok {
			return Bad("CLIENTBUG", "Unknown sort criterion "+a)
		}
		cr.Key = k
		crit = append(crit, cr)
		return nil
	})
	if err != nil {
		return err
	}
	if len(crit) == 0 {
		return Bad("CLIENTBUG", "Empty sort criteria")
	}
	if err := d.SP(); err != nil {
		return err
	}
	prog, err := readCharsetProgram(d)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	if err := checkSortCharset(prog); err != nil {
		return err
	}
	if opts.update && s.contextTagInUse(c.Tag) {
		return Bad("CLIENTBUG", "Tag reuse") // RFC 5267 4.3
	}
	var memoKey strings.Builder
	memoKey.WriteString("SORT")
	for _, cr := range crit {
		memoKey.WriteString(" " + strconv.FormatBool(cr.Reverse) + strconv.Itoa(int(cr.Key)))
	}
	key := memoKey.String()
	if opts.given {
		key = "" // ESORT answers are not remembered
	}
	in, err := s.sortInput(prog, key, uid)
	if err != nil {
		return err
	}
	if in.memoHit {
		s.Untagged().Raw("SORT").Raw(in.memo).CRLF()
		return s.enc.Err()
	}
	sorted := sortthread.Sort(in.msgs, crit)
	nums := s.sortNumbers(sorted, uid)
	var modseq store.ModSeq
	if in.withModSeq {
		modseq = in.maxModSeq(sorted)
	}
	if !opts.given {
		// RFC 5256 BASE.7.2.SORT; RFC 7162 3.1.5: "(MODSEQ m)" when the
		// search had a MODSEQ key and the result is not empty.
		buf := make([]byte, 0, 8*len(nums)+32)
		for _, n := range nums {
			buf = strconv.AppendUint(append(buf, ' '), uint64(n), 10)
		}
		if in.withModSeq && len(nums) > 0 {
			buf = strconv.AppendUint(append(buf, " (MODSEQ "...), uint64(modseq), 10)
			buf = append(buf, ')')
		}
		in.remember(string(buf))
		s.Untagged().Raw("SORT").Raw(string(buf)).CRLF()
		return s.enc.Err()
	}
	// RFC 5267 3.1: the ESEARCH data of SORT, in sort order.
	e := s.Untagged().Raw("ESEARCH (TAG ").Quoted(c.Tag).Special(')')
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
		// RFC 9394 3.1, RFC 5267 4.4: a window on the sort order.
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
	if in.withModSeq && len(nums) > 0 {
		if (opts.min || opts.max) && !opts.all && !opts.count {
			// RFC 7162 3.1.6 / RFC 4731 3.2: the modseq of what is returned.
			var pick []*sortthread.Msg
			if opts.min {
				pick = append(pick, sorted[0])
			}
			if opts.max {
				pick = append(pick, sorted[len(sorted)-1])
			}
			modseq = in.maxModSeq(pick)
		}
		e.Raw(" MODSEQ ").Number64(uint64(modseq))
	}
	e.CRLF()
	if opts.update {
		result := make([]store.UID, len(sorted))
		for i, m := range sorted {
			result[i] = m.UID
		}
		s.addContext(c.Tag, uid, prog, crit, result)
	}
	return s.enc.Err()
}

// sortReturn are the ESORT result options (RFC 5267 3.1).
type sortReturn struct {
	given                bool
	min, max, all, count bool
	partial              *partialRange // RFC 9394 (partial.go)
	update               bool          // RFC 5267 4.3 (context.go)
}

// readSortReturn reads the optional "RETURN (...) SP" of an extended SORT.
func readSortReturn(d *wire.Decoder) (sortReturn, error) {
	var o sortReturn
	c, err := d.Peek()
	if err != nil || c == '(' {
		return o, err
	}
	a, err := d.Atom()
	if err != nil {
		return o, err
	}
	if !strings.EqualFold(a, "RETURN") {
		return o, Bad("CLIENTBUG", "Expected RETURN or sort criteria")
	}
	o.given = true
	if err := d.SP(); err != nil {
		return o, err
	}
	err = d.List(func() error {
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
		case "CONTEXT":
			// RFC 5267 4.2: a hint; the keys are cached anyway.
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
			return Bad("CLIENTBUG", "Unknown SORT return option "+opt)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	if o.all && o.partial != nil {
		return o, Bad("CLIENTBUG", "PARTIAL and ALL together") // RFC 9394 3.1
	}
	if !o.min && !o.max && !o.all && !o.count && o.partial == nil {
		o.all = true // RFC 5267 3.3: "RETURN ()" means ALL
	}
	return o, d.SP()
}

// readCharsetProgram reads "charset SP search-criteria", the tail SORT and
// THREAD share (RFC 5256: the charset is mandatory).
func readCharsetProgram(d *wire.Decoder) (*search.Program, error) {
	cs, err := d.Astring()
	if err != nil {
		return nil, err
	}
	if err := d.SP(); err != nil {
		return nil, err
	}
	prog, err := search.Parse(d, "")
	if err != nil {
		return nil, err
	}
	if prog.Charset != "" {
		return nil, Bad("CLIENTBUG", "CHARSET is given before the search criteria")
	}
	prog.Charset = cs
	return prog, nil
}

// checkSortCharset answers an unsupported charset with NO [BADCHARSET]
// (RFC 5256: US-ASCII and UTF-8 must be implemented).
func checkSortCharset(prog *search.Program) error {
	if err := prog.CheckCharset(); err != nil {
		return No("BADCHARSET ("+strings.Join(search.Charsets, " ")+")", "Unsupported charset "+prog.Charset)
	}
	return nil
}

// sortNumbers turns ordered keys into the numbers the client wants:
// UIDs, or the view's sequence numbers (a message the view no longer
// holds is left out).
func (s *Session) sortNumbers(msgs []*sortthread.Msg, uid bool) []uint32 {
	nums := make([]uint32, 0, len(msgs))
	for _, m := range msgs {
		if uid {
			nums = append(nums, uint32(m.UID))
		} else if seq, ok := s.view.Seq(m.UID); ok {
			nums = append(nums, seq)
		}
	}
	return nums
}

// orderedSet writes numbers in the order given as a sequence-set, with a
// range only for a run ascending by one (RFC 5267 3.2).
func orderedSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}
