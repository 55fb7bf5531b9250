package sqlitestore

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// maxThreadHeader bounds how much of a message is read to find its
// threading headers: a header block larger than this is treated as if it
// ended there.
const maxThreadHeader = 256 << 10

// threadHeaders holds the message ids a message names, without angle
// brackets.
type threadHeaders struct {
	MessageID string
	Parents   []string // References, then In-Reply-To
}

// readThreadHeaders parses the Message-ID, References and In-Reply-To
// fields of the header at the start of r. The message package's structure
// does not expose them, so they are read here with go-message's header
// reader; a malformed header yields what could be read.
func readThreadHeaders(r io.Reader) threadHeaders {
	h, _ := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, maxThreadHeader)))
	var th threadHeaders
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		th.MessageID = ids[0]
	}
	th.Parents = append(msgIDs(h.Get("References")), msgIDs(h.Get("In-Reply-To"))...)
	return th
}

// msgIDs extracts the <...> tokens of a header value (RFC 5322 3.6.4); a
// value with no brackets counts as one id when it is a single word.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	if out == nil {
		if f := strings.Fields(v); len(f) == 1 {
			out = f
		}
	}
	return out
}

// threadID returns the thread a new message joins (RFC 8474 THREADID): the
// thread of its own Message-ID if a message already referred to it, else
// the thread of the first message id it refers to that is known, else a new
// thread. Every id it names is then recorded in that thread. Threads are
// never merged afterwards: a message linking two existing threads joins the
// first one found.
func (t *writeTx) threadID(th threadHeaders) (string, error) {
	ids := th.Parents
	if th.MessageID != "" {
		ids = append([]string{th.MessageID}, ids...)
	}
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
	for _, id := range ids {
		if _, err := t.tx.ExecContext(t.ctx,
			`INSERT INTO thread_refs (message_id, thread_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, thread); err != nil {
			return "", fmt.Errorf("thread record: %w", err)
		}
	}
	return thread, nil
}

// newObjectID returns a fresh RFC 8474 object id: a prefix letter and 24
// random hex digits.
func newObjectID(prefix byte) string {
	var b [12]byte
	rand.Read(b[:])
	return string(prefix) + hex.EncodeToString(b[:])
}
