package sortthread

import (
	"strings"
)

// BaseSubject extracts the base subject of a decoded Subject value
// (RFC 5256 2.1; the caller has already decoded RFC 2047 encoded words,
// step 1's first half). replyOrFwd reports whether the extraction removed
// a subj-refwd, a "(fwd)" subj-trailer or a subj-fwd-hdr/subj-fwd-trl pair,
// which makes the message a reply or forward for THREAD=REFERENCES (section
// 3). The result keeps its case; Casemap it before comparing.
func BaseSubject(subject string) (base string, replyOrFwd bool) {
	// (1) Tabs and continuations become spaces, runs of spaces one space.
	s := collapseSpace(subject)
	for {
		// (2) Remove trailing subj-trailer ("(fwd)" / WSP), repeatedly.
		for {
			t := strings.TrimRight(s, " ")
			if n := len(t); n >= 5 && strings.EqualFold(t[n-5:], "(fwd)") {
				t = t[:n-5]
				replyOrFwd = true
			}
			if t == s {
				break
			}
			s = t
		}
		// (3)-(5) Remove subj-leaders and leading subj-blobs until neither
		// matches.
		for {
			changed := false
			for {
				n, refwd := leader(s)
				if n == 0 {
					break
				}
				s = s[n:]
				changed = true
				replyOrFwd = replyOrFwd || refwd
			}
			// (4) A leading subj-blob goes if a non-empty subj-base
			// remains.
			if n := blob(s, 0); n > 0 && n < len(s) {
				s = s[n:]
				changed = true
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd:" ... "]" is unwrapped and the steps repeat from (2).
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			replyOrFwd = true
			continue
		}
		return s, replyOrFwd
	}
}

// collapseSpace turns tabs, CR and LF into spaces and runs of spaces into
// one.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\r' || c == '\n' {
			c = ' '
		}
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// leader returns the length of a subj-leader at the start of s, 0 if none:
// a WSP, or *subj-blob subj-refwd (refwd then true).
//
//	subj-leader = (*subj-blob subj-refwd) / WSP
//	subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
func leader(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	if s[0] == ' ' {
		return 1, false
	}
	i := 0
	for {
		n := blob(s, i)
		if n == 0 {
			break
		}
		i += n
	}
	switch {
	case hasFoldPrefix(s[i:], "re"):
		i += 2
	case hasFoldPrefix(s[i:], "fwd"):
		i += 3
	case hasFoldPrefix(s[i:], "fw"):
		i += 2
	default:
		return 0, false
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	i += blob(s, i)
	if i < len(s) && s[i] == ':' {
		return i + 1, true
	}
	return 0, false
}

// blob returns the length of a subj-blob starting at s[i], 0 if none.
//
//	subj-blob = "[" *BLOBCHAR "]" *WSP
//	BLOBCHAR  = %x01-5a / %x5c / %x5e-ff   ; anything but NUL, "[" and "]"
func blob(s string, i int) int {
	if i >= len(s) || s[i] != '[' {
		return 0
	}
	j := i + 1
	for j < len(s) && s[j] != ']' {
		if s[j] == '[' || s[j] == 0 {
			return 0
		}
		j++
	}
	if j == len(s) {
		return 0
	}
	j++
	for j < len(s) && s[j] == ' ' {
		j++
	}
	return j - i
}

func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
