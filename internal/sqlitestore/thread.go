package sqlitestore

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
)

// threadHeaders holds the message ids a message names, without angle
// brackets.
type threadHeaders struct {
	MessageID string
	Parents   []string // References, then In-Reply-To
}

// threadHeadersOf takes the Message-ID, References and In-Reply-To the
// parser decoded at delivery (RFC 5322 3.6.4). A Message-ID without
// brackets counts when it is a single word.
func threadHeadersOf(st *message.Structure) threadHeaders {
	var th threadHeaders
	if id := strings.TrimSpace(st.Search.MessageID); strings.HasPrefix(id, "<") {
		th.MessageID = bareID(id)
	} else if len(strings.Fields(id)) == 1 {
		th.MessageID = id
	}
	for _, id := range st.Search.References {
		if b := bareID(id); b != "" {
			th.Parents = append(th.Parents, b)
		}
	}
	if b := bareID(st.Search.InReplyTo); b != "" {
		th.Parents = append(th.Parents, b)
	}
	return th
}

// bareID strips the angle brackets of "<id>" and surrounding space.
func bareID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	return strings.TrimSpace(id)
}

// threadID returns the thread a new message joins (RFC 8474 THREADID): the
// thread of its own Message-ID if a message already referred to it, else
// the thread of the first message id it refers to that is known, else a new
// thread. Every id it names is then recorded in that thread. Threads are
// never merged afterwards: a message linking two existing threads joins the
// first one found.
func (t *writeTx) threadID(th threadHeaders) (string, error) {
	ids := th.allIDs()
	var thread string
	for _, id := range ids {
		err := t.tx.QueryRowContext(t.ctx, `SELECT thread_id FROM thread_refs WHERE message_id = ?`, id).Scan(&thread)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("thread lookup: %w", err)
		}
	}
	if thread == "" {
		thread = newObjectID('T')
	}
	return thread, t.recordThread(ids, thread)
}

// recordThread notes that the message ids belong to thread (the first
// thread recorded for an id stays).
func (t *writeTx) recordThread(ids []string, thread string) error {
	for _, id := range ids {
		if _, err := t.tx.ExecContext(t.ctx,
			`INSERT INTO thread_refs (message_id, thread_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, thread); err != nil {
			return fmt.Errorf("thread record: %w", err)
		}
	}
	return nil
}

// allIDs is the message's own id, then those it refers to.
func (th threadHeaders) allIDs() []string {
	if th.MessageID == "" {
		return th.Parents
	}
	return append([]string{th.MessageID}, th.Parents...)
}

// newObjectID returns a fresh RFC 8474 object id: a prefix letter and 24
// random hex digits.
func newObjectID(prefix byte) string {
	var b [12]byte
	rand.Read(b[:])
	return string(prefix) + hex.EncodeToString(b[:])
}
