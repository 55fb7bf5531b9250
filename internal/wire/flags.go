package wire

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// systemFlags lists the stored system flags in the order they are written.
var systemFlags = []struct {
	flag store.SystemFlags
	name string
}{
	{store.FlagSeen, `\Seen`},
	{store.FlagAnswered, `\Answered`},
	{store.FlagFlagged, `\Flagged`},
	{store.FlagDeleted, `\Deleted`},
	{store.FlagDraft, `\Draft`},
}

// FlagNames spells a flag state as IMAP flags: system flags, then keywords.
func FlagNames(f store.Flags) []string {
	out := make([]string, 0, 5+len(f.Keywords))
	for _, s := range systemFlags {
		if f.System&s.flag != 0 {
			out = append(out, s.name)
		}
	}
	return append(out, f.Keywords...)
}

// SystemFlagNames are the system flags a mailbox supports, for the FLAGS
// and PERMANENTFLAGS responses.
func SystemFlagNames() []string {
	out := make([]string, len(systemFlags))
	for i, s := range systemFlags {
		out[i] = s.name
	}
	return out
}

// AddFlag adds a flag read by Decoder.Flag to f. It reports false for a
// flag that cannot be stored: \Recent, \* or an unknown "\" flag
// (RFC 9051 2.3.2 reserves them).
func AddFlag(f *store.Flags, name string) bool {
	if strings.HasPrefix(name, `\`) {
		for _, s := range systemFlags {
			if strings.EqualFold(name, s.name) {
				f.System |= s.flag
				return true
			}
		}
		return false
	}
	f.Keywords = append(f.Keywords, name)
	return true
}
