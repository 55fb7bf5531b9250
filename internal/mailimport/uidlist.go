package mailimport

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

const uidListFile = "dovecot-uidlist"

// uidList is what a Maildir folder's dovecot-uidlist says: the folder's
// UIDVALIDITY and next UID, and the UID of each message file by base name
// (the file name up to its ":2," info).
//
// Format (Dovecot's maildir-uidlist.c), version 3: a header line
// "3 V<uidvalidity> N<nextuid> G<guid> ..." (fields in any order, each a
// letter and a value), then one line per message "<uid> [<letter><value>
// ...] :<base name>". Version 1: a header "1 <uidvalidity> <nextuid>" and
// lines "<uid> <base name>".
type uidList struct {
	uidValidity uint32
	uidNext     store.UID
	uids        map[string]store.UID
}

// readUIDList reads dir's dovecot-uidlist; nil when there is none or it
// cannot be understood (the import then proceeds without it).
func readUIDList(dir string) (*uidList, error) {
	f, err := os.Open(filepath.Join(dir, uidListFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, sc.Err()
	}
	l := &uidList{uids: make(map[string]store.UID)}
	head := strings.Fields(sc.Text())
	version := ""
	if len(head) > 0 {
		version = head[0]
	}
	switch version {
	case "1":
		if len(head) < 3 {
			return nil, nil
		}
		uv, err1 := strconv.ParseUint(head[1], 10, 32)
		next, err2 := strconv.ParseUint(head[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, nil
		}
		l.uidValidity, l.uidNext = uint32(uv), store.UID(next)
	case "3":
		for _, h := range head[1:] {
			if len(h) < 2 {
				continue
			}
			n, err := strconv.ParseUint(h[1:], 10, 32)
			switch {
			case err != nil:
			case h[0] == 'V':
				l.uidValidity = uint32(n)
			case h[0] == 'N':
				l.uidNext = store.UID(n)
			}
		}
	default:
		return nil, nil
	}
	if l.uidValidity == 0 {
		return nil, nil
	}
	for sc.Scan() {
		line := sc.Text()
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		uid, err := strconv.ParseUint(line[:sp], 10, 32)
		if err != nil || uid == 0 {
			continue
		}
		rest := line[sp+1:]
		var name string
		if version == "3" {
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				continue
			}
			name = rest[i+1:]
		} else {
			name = strings.TrimSpace(rest)
		}
		name = maildirBaseName(name)
		if name != "" {
			l.uids[name] = store.UID(uid)
			l.uidNext = max(l.uidNext, store.UID(uid)+1)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("maildir: %s: %w", filepath.Join(dir, uidListFile), err)
	}
	return l, nil
}

// maildirBaseName is a message file name without its ":2,..." info, the
// part that stays the same when its flags change.
func maildirBaseName(name string) string {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i]
	}
	return name
}
