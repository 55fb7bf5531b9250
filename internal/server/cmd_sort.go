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
	prog, err := readSortProgram(c)
	if err != nil {
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
	s.writeESearchData(c.Tag, uid, opts, nums, in.withModSeq, func(minMaxOnly bool) store.ModSeq {
		if !minMaxOnly {
			return modseq
		}
		// RFC 7162 3.1.6 / RFC 4731 3.2: the modseq of what is returned.
		var pick []*sortthread.Msg
		if opts.min {
			pick = append(pick, sorted[0])
		}
		if opts.max {
			pick = append(pick, sorted[len(sorted)-1])
		}
		return in.maxModSeq(pick)
	})
	if opts.update {
		result := make([]store.UID, len(sorted))
		for i, m := range sorted {
			result[i] = m.UID
		}
		s.addContext(c.Tag, uid, prog, crit, result)
	}
	return s.enc.Err()
}

// readSortReturn reads the optional "RETURN (...) SP" of an extended
// SORT (RFC 5267 3.1); the options are SEARCH's but SAVE.
func readSortReturn(d *wire.Decoder) (returnOpts, error) {
	c, err := d.Peek()
	if err != nil || c == '(' {
		return returnOpts{}, err
	}
	a, err := d.Atom()
	if err != nil {
		return returnOpts{}, err
	}
	if !strings.EqualFold(a, "RETURN") {
		return returnOpts{}, Bad("CLIENTBUG", "Expected RETURN or sort criteria")
	}
	if err := d.SP(); err != nil {
		return returnOpts{}, err
	}
	o, err := readReturnList(d, "SORT", false)
	if err != nil {
		return o, err
	}
	return o, d.SP()
}

// readSortProgram reads "SP charset SP search-criteria" to the end of the
// command and checks the charset: the tail SORT and THREAD share (RFC 5256).
func readSortProgram(c *Cmd) (*search.Program, error) {
	if err := c.Dec.SP(); err != nil {
		return nil, err
	}
	prog, err := readCharsetProgram(c.Dec)
	if err != nil {
		return nil, err
	}
	if err := c.End(); err != nil {
		return nil, err
	}
	if err := checkSortCharset(prog); err != nil {
		return nil, err
	}
	return prog, nil
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
