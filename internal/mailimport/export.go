package mailimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// ExportOptions control an export.
type ExportOptions struct {
	// Mailbox, when set, exports only that mailbox: to the Maildir root, or
	// to the single mbox file named by the path.
	Mailbox string
	// Progress, if set, is called after each mailbox.
	Progress func(Stats)
	// Warn, if set, is told about flags that cannot be represented and
	// about messages expunged while the export ran (left out).
	Warn func(msg string)
}

type exportTarget struct {
	info store.MailboxInfo
	// where: a Maildir folder directory, or an mbox file
	where string
}

// exportTargets lists the mailboxes to export and where each goes. layout
// maps a mailbox to its place when exporting everything.
func exportTargets(ctx context.Context, acct store.Account, path string, opts ExportOptions, layout func(store.MailboxInfo) (string, error)) ([]exportTarget, error) {
	if opts.Mailbox != "" {
		info, err := acct.Mailbox(ctx, opts.Mailbox)
		if err != nil {
			return nil, fmt.Errorf("mailbox %q: %w", opts.Mailbox, err)
		}
		return []exportTarget{{info, path}}, nil
	}
	boxes, err := acct.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	var out []exportTarget
	for _, b := range boxes {
		where, err := layout(b)
		if err != nil {
			return nil, err
		}
		out = append(out, exportTarget{b, where})
	}
	return out, nil
}

// refuseNonEmpty keeps an export from mixing with existing files.
func refuseNonEmpty(path string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("export: %s exists and is not empty", path)
	}
	return nil
}

// allMessages lists a mailbox's messages; the list is taken first so no
// store read is held open while files are written.
func allMessages(ctx context.Context, acct store.Account, id store.MailboxID) ([]store.MessageData, error) {
	var msgs []store.MessageData
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	err := acct.Messages(ctx, id, all, func(m *store.MessageData) error {
		c := *m
		c.Structure = nil
		msgs = append(msgs, c)
		return nil
	})
	return msgs, err
}

// ExportMaildir writes the account as a Maildir++ directory at path (which
// must not exist or be empty): INBOX at the root, every other mailbox as a
// ".Name.Sub" folder. Each file's mtime is the message's INTERNALDATE.
func ExportMaildir(ctx context.Context, acct store.Account, path string, opts ExportOptions) (Stats, error) {
	var stats Stats
	if err := refuseNonEmpty(path); err != nil {
		return stats, err
	}
	targets, err := exportTargets(ctx, acct, path, opts, func(b store.MailboxInfo) (string, error) {
		if strings.EqualFold(b.Name, "INBOX") {
			return path, nil
		}
		return filepath.Join(path, folderDirName(b.Name)), nil
	})
	if err != nil {
		return stats, err
	}
	for _, t := range targets {
		if err := exportMaildirFolder(ctx, acct, t, &stats, opts); err != nil {
			return stats, err
		}
		if opts.Progress != nil {
			opts.Progress(stats)
		}
	}
	return stats, nil
}

func exportMaildirFolder(ctx context.Context, acct store.Account, t exportTarget, stats *Stats, opts ExportOptions) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(t.where, sub), 0o700); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	msgs, err := allMessages(ctx, acct, t.info.ID)
	if err != nil {
		return fmt.Errorf("export %q: %w", t.info.Name, err)
	}
	var keywords []string
	for i := range msgs {
		m := &msgs[i]
		info, dropped := maildirInfo(m.Flags, &keywords)
		if len(dropped) > 0 && opts.Warn != nil {
			opts.Warn(fmt.Sprintf("%s UID %d: more than 26 keywords in the folder, not written: %s", t.info.Name, m.UID, strings.Join(dropped, " ")))
		}
		base := fmt.Sprintf("%d.V%dU%d.tidemark,S=%d", m.InternalDate.Unix(), t.info.UIDValidity, m.UID, m.Size)
		tmp := filepath.Join(t.where, "tmp", base)
		b, err := openExported(ctx, acct, t.info, m, opts)
		if err != nil {
			return err
		}
		if b == nil {
			continue
		}
		if err := writeBlobFile(b, tmp); err != nil {
			return fmt.Errorf("export %q UID %d: %w", t.info.Name, m.UID, err)
		}
		if err := os.Chtimes(tmp, m.InternalDate, m.InternalDate); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(t.where, "cur", base+info)); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		stats.Imported++
		stats.Bytes += m.Size
	}
	stats.Mailboxes++
	return writeKeywordsFile(t.where, keywords)
}

// openExported opens a listed message's bytes. The list is taken before
// the bytes are read, and a server running beside the export may expunge
// a message meanwhile and reclaim its body: when the body is gone and the
// message with it, the message is left out (with a warning) as if the
// list had been taken a moment later; a body missing under a message
// that still exists is an error. It returns nil for a message left out.
func openExported(ctx context.Context, acct store.Account, mb store.MailboxInfo, m *store.MessageData, opts ExportOptions) (store.Blob, error) {
	b, err := acct.OpenBlob(ctx, m.BlobID)
	if err == nil {
		return b, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		still := false
		if err2 := acct.Messages(ctx, mb.ID, store.UIDSetOf(m.UID), func(*store.MessageData) error {
			still = true
			return nil
		}); err2 != nil {
			return nil, fmt.Errorf("export %q UID %d: %w", mb.Name, m.UID, err2)
		}
		if !still {
			if opts.Warn != nil {
				opts.Warn(fmt.Sprintf("%s UID %d: expunged during the export, left out", mb.Name, m.UID))
			}
			return nil, nil
		}
	}
	return nil, fmt.Errorf("export %q UID %d: %w", mb.Name, m.UID, err)
}

func writeBlobFile(b store.Blob, path string) error {
	defer b.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ExportMbox writes the account as mboxrd files: one "<mailbox>.mbox" file
// per mailbox under the directory path (which must not exist or be empty),
// "Archive/2023" as Archive/2023.mbox. With opts.Mailbox, path is the one
// mbox file written, and must not exist.
func ExportMbox(ctx context.Context, acct store.Account, path string, opts ExportOptions) (Stats, error) {
	var stats Stats
	if opts.Mailbox == "" {
		if err := refuseNonEmpty(path); err != nil {
			return stats, err
		}
	}
	targets, err := exportTargets(ctx, acct, path, opts, func(b store.MailboxInfo) (string, error) {
		for _, part := range strings.Split(b.Name, "/") {
			if part == "" || part == "." || part == ".." {
				return "", fmt.Errorf("export: mailbox %q cannot be a file name", b.Name)
			}
		}
		return filepath.Join(path, filepath.FromSlash(b.Name)+mboxSuffix), nil
	})
	if err != nil {
		return stats, err
	}
	for _, t := range targets {
		if err := exportMboxFile(ctx, acct, t, &stats, opts); err != nil {
			return stats, err
		}
		if opts.Progress != nil {
			opts.Progress(stats)
		}
	}
	return stats, nil
}

func exportMboxFile(ctx context.Context, acct store.Account, t exportTarget, stats *Stats, opts ExportOptions) error {
	msgs, err := allMessages(ctx, acct, t.info.ID)
	if err != nil {
		return fmt.Errorf("export %q: %w", t.info.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(t.where), 0o700); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	f, err := os.OpenFile(t.where, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	w := NewMboxWriter(f)
	for i := range msgs {
		m := &msgs[i]
		b, err := openExported(ctx, acct, t.info, m, opts)
		if err != nil {
			f.Close()
			return err
		}
		if b == nil {
			continue
		}
		err = w.WriteMessage("", m.InternalDate, m.Flags, b)
		b.Close()
		if err != nil {
			f.Close()
			return fmt.Errorf("export %q UID %d: %w", t.info.Name, m.UID, err)
		}
		stats.Imported++
		stats.Bytes += m.Size
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("export: %w", err)
	}
	stats.Mailboxes++
	if err := f.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
