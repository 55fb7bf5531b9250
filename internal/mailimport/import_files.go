package mailimport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// mboxSuffix names the files of a directory of mbox files, one per mailbox.
const mboxSuffix = ".mbox"

// ImportMbox imports an mbox file into opts.Mailbox (default INBOX), or a
// directory of "<mailbox>.mbox" files (as ExportMbox writes them) into the
// mailboxes they name. On error, what was appended before stays.
func ImportMbox(ctx context.Context, acct store.Account, path string, opts Options) (Stats, error) {
	im := newImporter(ctx, acct, opts)
	st, err := os.Stat(path)
	if err != nil {
		return im.stats, fmt.Errorf("mbox: %w", err)
	}
	if !st.IsDir() {
		target := opts.Mailbox
		if target == "" {
			target = "INBOX"
		}
		err := im.importMboxFile(path, target)
		if ferr := im.finish(); err == nil {
			err = ferr
		}
		return im.stats, err
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), mboxSuffix) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return im.stats, fmt.Errorf("mbox: %w", err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(path, f)
		name := strings.TrimSuffix(filepath.ToSlash(rel), mboxSuffix)
		if opts.Mailbox != "" && !strings.EqualFold(name, "INBOX") {
			name = opts.Mailbox + "/" + name
		} else if opts.Mailbox != "" {
			name = opts.Mailbox
		}
		if err := im.importMboxFile(f, name); err != nil {
			im.finish()
			return im.stats, err
		}
	}
	return im.stats, im.finish()
}

func (im *importer) importMboxFile(path, mailbox string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mbox: %w", err)
	}
	defer f.Close()
	if err := im.setTarget(mailbox); err != nil {
		return err
	}
	r := NewMboxReader(f, path, im.opts.Variant)
	for {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		sp := newSpool(im.opts.SpoolDir)
		msg, err := r.Next(sp)
		if err == io.EOF {
			sp.Close()
			return nil
		}
		if err != nil {
			sp.Close()
			return err
		}
		origin := fmt.Sprintf("%s:%d", path, msg.Line)
		if err := im.add(pendingMessage{spool: sp, flags: msg.Flags, date: msg.Date, origin: origin}); err != nil {
			return err
		}
	}
}

// ImportMaildir imports a Maildir++ directory: the root's messages into
// opts.Mailbox (default INBOX) and each ".Folder.Sub" folder into
// "Folder/Sub" (below opts.Mailbox when set). On error, what was appended
// before stays.
func ImportMaildir(ctx context.Context, acct store.Account, path string, opts Options) (Stats, error) {
	im := newImporter(ctx, acct, opts)
	if !isMaildir(path) {
		return im.stats, fmt.Errorf("maildir: %s: not a maildir (no cur/ or new/ directory)", path)
	}
	root := opts.Mailbox
	if root == "" {
		root = "INBOX"
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return im.stats, fmt.Errorf("maildir: %w", err)
	}
	type folder struct{ dir, mailbox string }
	folders := []folder{{path, root}}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, ".") || n == "." || n == ".." || !isMaildir(filepath.Join(path, n)) {
			continue
		}
		name, err := folderMailboxName(n)
		if err != nil {
			return im.stats, fmt.Errorf("%s: %w", filepath.Join(path, n), err)
		}
		if opts.Mailbox != "" {
			name = opts.Mailbox + "/" + name
		}
		folders = append(folders, folder{filepath.Join(path, n), name})
	}
	for _, f := range folders {
		if err := im.importMaildirFolder(f.dir, f.mailbox); err != nil {
			im.finish()
			return im.stats, err
		}
	}
	return im.stats, im.finish()
}

type maildirFile struct {
	path  string
	name  string
	cur   bool
	mtime time.Time
	uid   store.UID // from dovecot-uidlist; 0 when not listed
}

func (im *importer) importMaildirFolder(dir, mailbox string) error {
	keywords, err := readKeywordsFile(dir)
	if err != nil {
		return err
	}
	var files []maildirFile
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return fmt.Errorf("maildir: %s: %w", filepath.Join(dir, sub, e.Name()), err)
			}
			files = append(files, maildirFile{path: filepath.Join(dir, sub, e.Name()), name: e.Name(), cur: sub == "cur", mtime: info.ModTime()})
		}
	}
	var uids *uidList
	if im.opts.Replica != nil {
		if uids, err = readUIDList(dir); err != nil {
			return err
		}
	}
	if uids != nil {
		for i := range files {
			files[i].uid = uids.uids[maildirBaseName(files[i].name)]
		}
	}
	// In the source's UID order when it has one, then oldest first, so UIDs
	// follow arrival order as the file times tell it.
	slices.SortFunc(files, func(a, b maildirFile) int {
		switch {
		case a.uid != 0 && b.uid != 0:
			return cmp.Compare(a.uid, b.uid)
		case a.uid != 0:
			return -1
		case b.uid != 0:
			return 1
		}
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	if err := im.setTargetKeeping(mailbox, uids); err != nil {
		return err
	}
	for _, mf := range files {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		sp, err := spoolFile(mf.path, im.opts.SpoolDir)
		if err != nil {
			return err
		}
		var flags store.Flags
		if mf.cur {
			flags = maildirFlags(mf.name, keywords)
		}
		date := mf.mtime
		if date.Year() < 1971 { // no real mtime: the Date field is the next best
			date = headerDate(sp.Reader())
		}
		if err := im.add(pendingMessage{spool: sp, flags: flags, date: date, origin: mf.path, uid: mf.uid}); err != nil {
			return err
		}
	}
	return nil
}

func spoolFile(path, spoolDir string) (*spool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer f.Close()
	sp := newSpool(spoolDir)
	if _, err := io.Copy(sp, f); err != nil {
		sp.Close()
		return nil, fmt.Errorf("maildir: %s: %w", path, err)
	}
	return sp, nil
}

// headerDate returns the message's Date field, or the zero time.
func headerDate(r io.Reader) time.Time {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return time.Time{}
	}
	t, err := m.Header.Date()
	if err != nil {
		return time.Time{}
	}
	return t
}
