package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// brokenMessage is a message whose bytes cannot be served.
type brokenMessage struct {
	mailbox store.MailboxInfo
	uid     store.UID
	why     string
}

// findBrokenMessages reads every message's blob through the store
// interface and returns those whose blob is missing, unreadable, of the
// wrong size or not hashing to its id.
func findBrokenMessages(ctx context.Context, acct store.Account) ([]brokenMessage, error) {
	boxes, err := acct.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	var all store.UIDSet
	all.AddRange(1, store.MaxUID)
	var broken []brokenMessage
	for _, mb := range boxes {
		err := acct.Messages(ctx, mb.ID, all, func(m *store.MessageData) error {
			if why := blobProblem(ctx, acct, m); why != "" {
				broken = append(broken, brokenMessage{mailbox: mb, uid: m.UID, why: why})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mb.Name, err)
		}
	}
	return stillBroken(ctx, acct, broken)
}

// stillBroken looks at each broken message again. A server running beside
// the check may have expunged a message after it was listed and reclaimed
// its body; such a message is gone, not broken. (The store never reclaims
// a body a live message names, so a message still there with its body
// still unreadable is broken.)
func stillBroken(ctx context.Context, acct store.Account, broken []brokenMessage) ([]brokenMessage, error) {
	var out []brokenMessage
	for _, b := range broken {
		err := acct.Messages(ctx, b.mailbox.ID, store.UIDSetOf(b.uid), func(m *store.MessageData) error {
			if why := blobProblem(ctx, acct, m); why != "" {
				b.why = why
				out = append(out, b)
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNoMailbox) {
			return nil, fmt.Errorf("%s: %w", b.mailbox.Name, err)
		}
	}
	return out, nil
}

func blobProblem(ctx context.Context, acct store.Account, m *store.MessageData) string {
	b, err := acct.OpenBlob(ctx, m.BlobID)
	if err != nil {
		return fmt.Sprintf("blob %s cannot be opened: %v", m.BlobID, err)
	}
	defer b.Close()
	h := sha256.New()
	n, err := io.Copy(h, b)
	switch {
	case err != nil:
		return fmt.Sprintf("blob %s unreadable: %v", m.BlobID, err)
	case n != m.Size:
		return fmt.Sprintf("blob %s holds %d bytes, the message %d", m.BlobID, n, m.Size)
	case hex.EncodeToString(h.Sum(nil)) != m.BlobID:
		return fmt.Sprintf("blob %s does not hash to its id", m.BlobID)
	}
	return ""
}

// repairUser expunges the messages whose bytes are lost. Expunge goes
// through the store like a client's: each mailbox gets a new modseq above
// every earlier one and tombstones for the UIDs, so a resyncing client is
// told the messages vanished, and no UID is reused. It returns what it
// did, one line each.
func repairUser(ctx context.Context, acct store.Account) ([]string, error) {
	broken, err := findBrokenMessages(ctx, acct)
	if err != nil {
		return nil, err
	}
	byBox := map[store.MailboxID]*store.UIDSet{}
	names := map[store.MailboxID]string{}
	var done []string
	for _, b := range broken {
		if byBox[b.mailbox.ID] == nil {
			byBox[b.mailbox.ID] = &store.UIDSet{}
		}
		byBox[b.mailbox.ID].Add(b.uid)
		names[b.mailbox.ID] = b.mailbox.Name
		done = append(done, fmt.Sprintf("mailbox %q UID %d: %s: expunged", b.mailbox.Name, b.uid, b.why))
	}
	for id, set := range byBox {
		if _, err := acct.Expunge(ctx, id, *set); err != nil {
			return nil, fmt.Errorf("expunging in %q: %w", names[id], err)
		}
	}
	return done, nil
}
