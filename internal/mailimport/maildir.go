package mailimport

import (
	"bufio"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/wire"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Maildir++ on-disk conventions.
//
// A message file's name is "<unique>:2,<flags>", flags being letters in
// ASCII order: D draft, F flagged, P passed (forwarded), R replied, S seen,
// T trashed (deleted), then lowercase letters a-z that index the folder's
// dovecot-keywords file (line "N name": letter 'a'+N is keyword name).
// Messages in new/ have no flags.

// forwardedKeyword is the IMAP keyword for Maildir's P (passed) flag
// (RFC 5788 registry).
const forwardedKeyword = "$Forwarded"

const keywordsFile = "dovecot-keywords"

// maildirFlags parses the flags in a maildir file name, resolving keyword
// letters through keywords (index 0 = 'a'). Unknown letters are ignored.
func maildirFlags(name string, keywords []string) store.Flags {
	var f store.Flags
	i := strings.LastIndex(name, ":2,")
	if i < 0 {
		return f
	}
	for _, c := range name[i+3:] {
		switch {
		case c == 'D':
			f.System |= store.FlagDraft
		case c == 'F':
			f.System |= store.FlagFlagged
		case c == 'P':
			f.Keywords = append(f.Keywords, forwardedKeyword)
		case c == 'R':
			f.System |= store.FlagAnswered
		case c == 'S':
			f.System |= store.FlagSeen
		case c == 'T':
			f.System |= store.FlagDeleted
		case c >= 'a' && c <= 'z':
			if k := int(c - 'a'); k < len(keywords) && keywords[k] != "" {
				f.Keywords = append(f.Keywords, keywords[k])
			}
		}
	}
	f.Keywords = store.NormalizeKeywords(f.Keywords)
	return f
}

// maildirInfo returns the ":2,<flags>" suffix for f, adding keywords that
// have no letter yet to *keywords (at most 26 can have one); dropped
// reports keywords that could not be given a letter.
func maildirInfo(f store.Flags, keywords *[]string) (info string, dropped []string) {
	var letters []byte
	for _, x := range []struct {
		flag store.SystemFlags
		c    byte
	}{{store.FlagDraft, 'D'}, {store.FlagFlagged, 'F'}, {store.FlagAnswered, 'R'}, {store.FlagSeen, 'S'}, {store.FlagDeleted, 'T'}} {
		if f.System&x.flag != 0 {
			letters = append(letters, x.c)
		}
	}
	for _, k := range f.Keywords {
		if strings.EqualFold(k, forwardedKeyword) {
			letters = append(letters, 'P')
			continue
		}
		idx := slices.IndexFunc(*keywords, func(o string) bool { return strings.EqualFold(o, k) })
		if idx < 0 {
			if len(*keywords) >= 26 {
				dropped = append(dropped, k)
				continue
			}
			*keywords = append(*keywords, k)
			idx = len(*keywords) - 1
		}
		letters = append(letters, byte('a'+idx))
	}
	slices.Sort(letters)
	return ":2," + string(letters), dropped
}

// readKeywordsFile reads a folder's dovecot-keywords; a missing file means
// no keywords.
func readKeywordsFile(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, keywordsFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	var kw []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		num, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n >= 26 {
			continue
		}
		for len(kw) <= n {
			kw = append(kw, "")
		}
		kw[n] = strings.TrimSpace(name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("maildir: %s: %w", f.Name(), err)
	}
	return kw, nil
}

func writeKeywordsFile(dir string, keywords []string) error {
	if len(keywords) == 0 {
		return nil
	}
	var b strings.Builder
	for i, k := range keywords {
		fmt.Fprintf(&b, "%d %s\n", i, k)
	}
	if err := os.WriteFile(filepath.Join(dir, keywordsFile), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}

// folderDirName maps a mailbox name ("Archive/2023") to its Maildir++
// directory name (".Archive.2023").
func folderDirName(mailbox string) string {
	parts := strings.Split(mailbox, "/")
	for i, p := range parts {
		parts[i] = wire.EncodeMUTF7Escaping(p, ".")
	}
	return "." + strings.Join(parts, ".")
}

// folderMailboxName maps a Maildir++ directory name back to a mailbox name.
func folderMailboxName(dir string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(dir, "."), ".")
	for i, p := range parts {
		d, err := wire.DecodeMUTF7Lenient(p)
		if err != nil || d == "" {
			return "", fmt.Errorf("maildir: folder %q: invalid name", dir)
		}
		parts[i] = d
	}
	return strings.Join(parts, "/"), nil
}

// isMaildir reports whether dir has a cur/ or new/ subdirectory.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}
