package store

import (
	"slices"
	"strings"
)

// DeletedSeen merges lists of EMAILIDs (MailboxTombstone.Seen) into one,
// sorted, each once; nil when every list is nil (nothing recorded).
func DeletedSeen(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		if l != nil && out == nil {
			out = []string{}
		}
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// EncodeSeen and DecodeSeen turn a MailboxTombstone.Seen into the text a
// backend stores (EMAILIDs separated by spaces; NULL for nil) and back.
func EncodeSeen(ids []string) *string {
	if ids == nil {
		return nil
	}
	s := strings.Join(ids, " ")
	return &s
}

func DecodeSeen(s *string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, strings.Fields(*s)...)
}
