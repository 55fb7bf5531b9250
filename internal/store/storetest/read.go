package storetest

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testReadMessages: ReadMessages gives, for every set of fields, what
// Messages gives of the same messages — states, dates, ids, the envelope
// alone or with the part tree, the preview (which Messages may leave to
// the caller, ReadMessages never), the bytes with the row where
// the backend reads them so — across pages, over buffers it reuses, with
// strings that stay right after the call.
func testReadMessages(t *testing.T, be Backend) {
	_, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	var msgs []store.NewMessage
	var bodies []string
	for i := range 300 { // more than one page of any backend
		body := MessageText(i, fmt.Sprintf("Cc: c%d@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n", i)) +
			fmt.Sprintf("--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>%d</p>\r\n--b--\r\n", i, i)
		if i == 150 {
			body += strings.Repeat("a long line that makes this message a large one\r\n", 3000)
		}
		bodies = append(bodies, body)
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body), Flags: store.Flags{Keywords: []string{fmt.Sprintf("k%d", i%3)}}})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 10, Stop: 20}}, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	all := store.UIDSet{{Start: 1, Stop: 5}, {Start: 7, Stop: store.MaxUID}}
	var want []*store.MessageData
	if err := a.Messages(ctx, inbox.ID, all, func(m *store.MessageData) error {
		want = append(want, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) != 299 {
		t.Fatalf("Messages gave %d messages, want 299", len(want))
	}
	for _, fields := range []store.Fields{0, store.FieldEnvelope, store.FieldStructure, store.FieldPreview, store.FieldBody,
		store.FieldDates, store.FieldSize, store.FieldIDs, store.FieldSize | store.FieldStructure, store.FieldsAll} {
		t.Run(fmt.Sprintf("fields=%d", fields), func(t *testing.T) {
			i, withBody := 0, 0
			var subjects []string
			err := a.ReadMessages(ctx, inbox.ID, all, fields, func(m *store.MessageData) error {
				if i >= len(want) {
					return fmt.Errorf("message %d past the %d of Messages", m.UID, len(want))
				}
				w := want[i]
				i++
				if m.MessageState.UID != w.UID || m.ModSeq != w.ModSeq || m.Flags.System != w.Flags.System ||
					!reflect.DeepEqual(m.Flags.Keywords, w.Flags.Keywords) {
					t.Errorf("UID %d: state %+v, want %+v", w.UID, m.MessageState, w.MessageState)
				}
				// What fields asks for comes; the rest may or may not.
				if fields&store.FieldDates != 0 && (!m.InternalDate.Equal(w.InternalDate) || !m.SaveDate.Equal(w.SaveDate) ||
					m.InternalDate.Format(time.RFC3339) != w.InternalDate.Format(time.RFC3339)) ||
					fields&store.FieldSize != 0 && m.Size != w.Size ||
					fields&(store.FieldBody|store.FieldPreview) != 0 && m.BlobID != w.BlobID ||
					fields&store.FieldIDs != 0 && (m.EmailID != w.EmailID || m.ThreadID != w.ThreadID) {
					t.Errorf("UID %d: data %+v, want %+v", w.UID, m, w)
				}
				switch {
				case fields&(store.FieldEnvelope|store.FieldStructure) == 0:
					if m.Structure != nil {
						t.Errorf("UID %d: structure read without being asked for", w.UID)
					}
				case m.Structure == nil:
					t.Errorf("UID %d: no structure", w.UID)
				case fields&store.FieldEnvelope == 0:
					if m.Structure.Size != w.Structure.Size {
						t.Errorf("UID %d: structure size %d, want %d", w.UID, m.Structure.Size, w.Structure.Size)
					}
				default:
					if !reflect.DeepEqual(m.Structure.Envelope, w.Structure.Envelope) || m.Structure.Size != w.Structure.Size {
						t.Errorf("UID %d: envelope %+v, want %+v", w.UID, m.Structure.Envelope, w.Structure.Envelope)
					}
					subjects = append(subjects, m.Structure.Envelope.Subject)
				}
				if fields&store.FieldStructure != 0 && m.Structure != nil {
					if !reflect.DeepEqual(m.Structure.Root(), w.Structure.Root()) {
						t.Errorf("UID %d: structure differs from Messages'", w.UID)
					}
				}
				if fields&store.FieldPreview != 0 {
					wp := w.Preview
					if !w.HasPreview { // not kept: ReadMessages computes it
						wp = computedPreview(t, a, w)
					}
					if m.Preview != wp || !m.HasPreview {
						t.Errorf("UID %d: preview %q %v, want %q", w.UID, m.Preview, m.HasPreview, wp)
					}
				}
				if m.Body != nil {
					if fields&store.FieldBody == 0 {
						t.Errorf("UID %d: body read without being asked for", w.UID)
					}
					withBody++
					if m.Body.Size() != w.Size {
						t.Errorf("UID %d: body size %d, want %d", w.UID, m.Body.Size(), w.Size)
					}
					got, err := io.ReadAll(m.Body)
					if err != nil || string(got) != bodies[w.UID-1] {
						t.Errorf("UID %d: body read with the row differs (%v)", w.UID, err)
					}
					p := make([]byte, 10)
					if n, err := m.Body.ReadAt(p, 6); n != 10 || err != nil || !bytes.Equal(p, []byte(bodies[w.UID-1][6:16])) {
						t.Errorf("UID %d: ReadAt = %d, %v, %q", w.UID, n, err, p)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if i != len(want) {
				t.Fatalf("ReadMessages gave %d messages, want %d", i, len(want))
			}
			if fields&store.FieldBody != 0 && withBody == 0 {
				t.Error("no body came with its row")
			}
			// Strings may be kept after the call, whatever the reuse of
			// buffers between pages.
			for j, s := range subjects {
				if s != want[j].Structure.Envelope.Subject {
					t.Fatalf("kept subject %d = %q, want %q", j, s, want[j].Structure.Envelope.Subject)
				}
			}
		})
	}
	// An error from fn ends the read with that error.
	stop := fmt.Errorf("stop")
	n := 0
	if err := a.ReadMessages(ctx, inbox.ID, all, store.FieldEnvelope, func(*store.MessageData) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("ReadMessages after fn failed: %v, %d calls", err, n)
	}
}

// computedPreview is the preview of a message read by Messages, computed
// from its structure and bytes as a FETCH of a store that keeps none would.
func computedPreview(t testing.TB, a store.Account, m *store.MessageData) string {
	t.Helper()
	blob, err := a.OpenBlob(ctx, m.BlobID)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	pv, err := message.Preview(m.Structure, blob)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}
