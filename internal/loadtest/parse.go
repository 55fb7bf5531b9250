package loadtest

import (
	"bytes"
	"strconv"
	"strings"
)

// literalSize reports whether line (ending in CRLF) ends with a literal
// announcement "{N}" or "{N+}" (RFC 9051 4.3, RFC 7888) and returns N.
func literalSize(line []byte) (int64, bool) {
	line = trimCRLF(line)
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := line[open+1 : len(line)-1]
	digits = bytes.TrimSuffix(digits, []byte("+"))
	if len(digits) == 0 || len(digits) > 12 {
		return 0, false
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// parseTagged reports whether resp is the tagged completion for tag and
// returns its status (OK, NO, BAD) and the text after it.
func parseTagged(resp []byte, tag string) (status, text string, ok bool) {
	if len(resp) <= len(tag) || string(resp[:len(tag)]) != tag || resp[len(tag)] != ' ' {
		return "", "", false
	}
	rest := string(trimCRLF(resp[len(tag)+1:]))
	status, text, _ = strings.Cut(rest, " ")
	return strings.ToUpper(status), text, true
}

// parseCapabilities returns the capabilities in a "* CAPABILITY ..."
// response or in a [CAPABILITY ...] response code (RFC 9051 7.1), upper-cased.
func parseCapabilities(resp []byte) []string {
	s := string(trimCRLF(resp))
	var list string
	if rest, ok := cutPrefixFold(s, "* CAPABILITY "); ok {
		list = rest
	} else if i := strings.Index(strings.ToUpper(s), "[CAPABILITY "); i >= 0 {
		list = s[i+len("[CAPABILITY "):]
		if j := strings.IndexByte(list, ']'); j >= 0 {
			list = list[:j]
		}
	} else {
		return nil
	}
	caps := strings.Fields(strings.ToUpper(list))
	return caps
}

// SelectInfo is what a benchmark needs from a SELECT or EXAMINE.
type SelectInfo struct {
	Exists        int
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Vanished      int // VANISHED responses seen (RFC 7162 3.2.10)
	Fetches       int // FETCH responses seen
}

// Update folds one untagged response of a SELECT into the info.
func (si *SelectInfo) Update(resp []byte) {
	s := string(trimCRLF(resp))
	if !strings.HasPrefix(s, "* ") {
		return
	}
	s = s[2:]
	if n, rest, ok := leadingNumber(s); ok {
		switch strings.ToUpper(firstWord(rest)) {
		case "EXISTS":
			si.Exists = int(n)
		case "FETCH":
			si.Fetches++
		}
		return
	}
	if strings.HasPrefix(strings.ToUpper(s), "VANISHED") {
		si.Vanished++
		return
	}
	if v, ok := respCodeNumber(s, "UIDVALIDITY"); ok {
		si.UIDValidity = uint32(v)
	}
	if v, ok := respCodeNumber(s, "UIDNEXT"); ok {
		si.UIDNext = uint32(v)
	}
	if v, ok := respCodeNumber(s, "HIGHESTMODSEQ"); ok {
		si.HighestModSeq = v
	}
}

// parseStatusMessages returns N from "* STATUS mailbox (... MESSAGES N ...)".
func parseStatusMessages(resp []byte) (int, bool) {
	s := string(trimCRLF(resp))
	if _, ok := cutPrefixFold(s, "* STATUS "); !ok {
		return 0, false
	}
	open := strings.LastIndexByte(s, '(')
	if open < 0 {
		return 0, false
	}
	f := strings.Fields(strings.Trim(s[open:], "()"))
	for i := 0; i+1 < len(f); i += 2 {
		if strings.EqualFold(f[i], "MESSAGES") {
			n, err := strconv.Atoi(f[i+1])
			return n, err == nil
		}
	}
	return 0, false
}

// parseFetchFlags returns the sequence number and the FLAGS list of a
// "* N FETCH (... FLAGS (...) ...)" response.
func parseFetchFlags(resp []byte) (seq uint32, flags []string, ok bool) {
	s := string(trimCRLF(resp))
	if !strings.HasPrefix(s, "* ") {
		return 0, nil, false
	}
	n, rest, ok := leadingNumber(s[2:])
	if !ok || !strings.EqualFold(firstWord(rest), "FETCH") {
		return 0, nil, false
	}
	i := strings.Index(strings.ToUpper(rest), "FLAGS (")
	if i < 0 {
		return 0, nil, false
	}
	list := rest[i+len("FLAGS ("):]
	j := strings.IndexByte(list, ')')
	if j < 0 {
		return 0, nil, false
	}
	return uint32(n), strings.Fields(list[:j]), true
}

// parseSearch returns the numbers of a "* SEARCH n n n" response, or the
// count of the ALL set of a "* ESEARCH ... ALL set" response (RFC 4731).
func parseSearchCount(resp []byte) (int, bool) {
	s := string(trimCRLF(resp))
	if rest, ok := cutPrefixFold(s, "* SEARCH"); ok {
		return len(strings.Fields(rest)), true
	}
	rest, ok := cutPrefixFold(s, "* ESEARCH")
	if !ok {
		return 0, false
	}
	f := strings.Fields(rest)
	for i := 0; i+1 < len(f); i++ {
		if strings.EqualFold(f[i], "ALL") {
			return countSet(f[i+1]), true
		}
		if strings.EqualFold(f[i], "COUNT") {
			n, err := strconv.Atoi(f[i+1])
			return n, err == nil
		}
	}
	return 0, true
}

// countSet counts the numbers in a sequence set like "1:5,9,12:14".
func countSet(set string) int {
	n := 0
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.Atoi(lo)
		if !isRange {
			if err1 == nil {
				n++
			}
			continue
		}
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			continue
		}
		if a > b {
			a, b = b, a
		}
		n += b - a + 1
	}
	return n
}

func respCodeNumber(s, code string) (uint64, bool) {
	i := strings.Index(strings.ToUpper(s), "["+code+" ")
	if i < 0 {
		return 0, false
	}
	n, _, ok := leadingNumber(s[i+len(code)+2:])
	return n, ok
}

func leadingNumber(s string) (uint64, string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, s, false
	}
	return n, strings.TrimLeft(s[i:], " "), true
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
