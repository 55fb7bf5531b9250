package store

import (
	"slices"
	"strings"
)

// NormalizeKeywords sorts keywords and drops case-insensitive duplicates,
// keeping the first spelling seen.
func NormalizeKeywords(kw []string) []string {
	if len(kw) == 0 {
		return nil
	}
	out := make([]string, 0, len(kw))
	for _, k := range kw {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, k) }) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// Has reports whether f carries keyword k (case-insensitively).
func (f Flags) Has(k string) bool {
	return slices.ContainsFunc(f.Keywords, func(o string) bool { return strings.EqualFold(o, k) })
}

// Equal reports whether two normalized flag sets are the same.
func (f Flags) Equal(g Flags) bool {
	return f.System == g.System && slices.EqualFunc(f.Keywords, g.Keywords, strings.EqualFold)
}

// Apply returns the flags that result from op with change applied to f.
func (f Flags) Apply(op FlagOp, change Flags) Flags {
	switch op {
	case FlagsReplace:
		return Flags{System: change.System, Keywords: NormalizeKeywords(change.Keywords)}
	case FlagsAdd:
		return Flags{System: f.System | change.System, Keywords: NormalizeKeywords(append(slices.Clone(f.Keywords), change.Keywords...))}
	case FlagsRemove:
		var kw []string
		for _, k := range f.Keywords {
			if !change.Has(k) {
				kw = append(kw, k)
			}
		}
		return Flags{System: f.System &^ change.System, Keywords: kw}
	}
	panic("store: unknown FlagOp")
}

// ValidKeyword reports whether k can be stored as a keyword: an IMAP atom
// (RFC 9051 9, flag-keyword) of 1 to 255 bytes with no atom-specials,
// which also keeps out the "\" of system flags.
func ValidKeyword(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}
