package sortthread

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestStoredKeysRoundTrip: the keys decoded from their stored form are
// the keys computed from the structure, for random messages and for the
// cases the format has flags for.
func TestStoredKeysRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	raws := [][]byte{
		[]byte("Subject: no date\r\n\r\nbody\r\n"),
		[]byte("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\nSubject: Re: epoch\r\n\r\nbody\r\n"),
		[]byte("Date: not a date\r\nFrom: \"Ann\" <ann@example.org>\r\nReferences: <a@x> <\"b c\"@y>\r\n\r\n"),
		[]byte("\r\n"),
	}
	for range 300 {
		raws = append(raws, messagetest.Message(r))
	}
	for i, raw := range raws {
		st, err := message.Parse(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		md := &store.MessageData{
			MessageState: store.MessageState{UID: store.UID(i + 1)},
			InternalDate: time.Unix(1_700_000_000+int64(i), 0),
			Size:         int64(len(raw)),
			Structure:    st,
		}
		want := FromMessage(md)
		enc := EncodeKeys(st)
		got, err := DecodeKeys(enc, md.UID, md.InternalDate.Unix(), md.Size)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, got, want)
		}
		// Every cut of the value is refused, never misread.
		for n := range len(enc) {
			if _, err := DecodeKeys(enc[:n], 1, 0, 0); err == nil {
				t.Fatalf("message %d: %d of %d bytes decoded", i, n, len(enc))
			}
		}
	}
	if m, _ := DecodeKeys(EncodeKeys(mustParse(t, raws[0])), 1, 42, 0); m.Sent != 42 {
		t.Errorf("no Date: Sent %d, want INTERNALDATE 42", m.Sent)
	}
	if m, _ := DecodeKeys(EncodeKeys(mustParse(t, raws[1])), 1, 42, 0); m.Sent != 0 || !m.ReplyOrFwd {
		t.Errorf("epoch Date: Sent %d ReplyOrFwd %v, want 0 and true", m.Sent, m.ReplyOrFwd)
	}
	if m, _ := DecodeKeys(EncodeKeys(mustParse(t, raws[2])), 1, 42, 0); m.DisplayFrom != "ANN" || strings.Join(m.Refs, " ") != "a@x b c@y" {
		t.Errorf("display %q refs %q", m.DisplayFrom, m.Refs)
	}
}

func mustParse(t *testing.T, raw []byte) *message.Structure {
	t.Helper()
	st, err := message.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return st
}
