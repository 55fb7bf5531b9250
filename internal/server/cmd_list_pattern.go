package server

import "unicode/utf8"

// listPattern is a compiled LIST mailbox pattern (RFC 9051 6.3.9): "*"
// matches any run of characters, "%" any run without the hierarchy
// delimiter, everything else itself. Matching simulates the pattern as a
// nondeterministic automaton over the name's characters, so it costs
// O(len(name) × len(pattern)) at worst, whatever the client sends: no
// backtracking blow-up on patterns like "*a*a*a*b".
type listPattern struct {
	toks []patToken
	// mark and gen deduplicate states within one step of the simulation
	// (mark[i] == gen: state i is already in the list).
	mark     []uint32
	gen      uint32
	cur, nxt []int32
}

// patToken is one pattern element: a character, or a wildcard '*' / '%'
// (wild set).
type patToken struct {
	r    rune
	wild bool
}

// maxPatternTokens bounds a pattern; no mailbox name is longer than the
// store allows (1024 bytes), so a longer pattern without wildcards could
// never match anyway.
const maxPatternTokens = 2048

// compileListPattern compiles a canonical pattern (reference and mailbox
// argument joined). Runs of wildcards collapse into one ("%*" is "*"). It
// reports false for a pattern too long to ever match, which the caller
// ignores silently as RFC 9051 6.3.9 asks.
func compileListPattern(p string) (*listPattern, bool) {
	lp := &listPattern{}
	for _, r := range p {
		if r == '*' || r == '%' {
			if n := len(lp.toks); n > 0 && lp.toks[n-1].wild {
				if r == '*' {
					lp.toks[n-1].r = '*'
				}
				continue
			}
			lp.toks = append(lp.toks, patToken{r: r, wild: true})
			continue
		}
		lp.toks = append(lp.toks, patToken{r: r})
	}
	if len(lp.toks) > maxPatternTokens {
		return nil, false
	}
	lp.mark = make([]uint32, len(lp.toks)+1)
	return lp, true
}

// add puts state st and every state reachable from it without consuming
// a character (a wildcard matching nothing) into list.
func (p *listPattern) add(list []int32, st int) []int32 {
	for {
		if p.mark[st] == p.gen {
			return list
		}
		p.mark[st] = p.gen
		list = append(list, int32(st))
		if st == len(p.toks) || !p.toks[st].wild {
			return list
		}
		st++
	}
}

func (p *listPattern) step() {
	p.gen++
	if p.gen == 0 { // wrapped: forget old marks
		clear(p.mark)
		p.gen = 1
	}
}

// match reports whether name matches. INBOX is case-insensitive
// (RFC 9051 5.1), so the first five characters of "INBOX" and of its
// children match the pattern without regard to case.
func (p *listPattern) match(name string) bool {
	fold := 0
	if isInboxTree(name) {
		fold = len("INBOX")
	}
	p.step()
	p.cur = p.add(p.cur[:0], 0)
	for i, r := range name {
		if r == utf8.RuneError {
			return false
		}
		p.step()
		p.nxt = p.nxt[:0]
		for _, st := range p.cur {
			if int(st) == len(p.toks) {
				continue
			}
			t := p.toks[st]
			switch {
			case t.wild && (t.r == '*' || r != '/'):
				p.nxt = p.add(p.nxt, int(st))
			case !t.wild && (t.r == r || (i < fold && asciiFoldEqual(t.r, r))):
				p.nxt = p.add(p.nxt, int(st)+1)
			}
		}
		p.cur, p.nxt = p.nxt, p.cur
		if len(p.cur) == 0 {
			return false
		}
	}
	for _, st := range p.cur {
		if int(st) == len(p.toks) {
			return true
		}
	}
	return false
}

func asciiFoldEqual(a, b rune) bool {
	lower := func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	return lower(a) == lower(b)
}

// listPatterns is a set of patterns; a name matches when any does
// (RFC 5258 3: "LIST "" (pat1 pat2)").
type listPatterns []*listPattern

func (ps listPatterns) match(name string) bool {
	for _, p := range ps {
		if p.match(name) {
			return true
		}
	}
	return false
}
